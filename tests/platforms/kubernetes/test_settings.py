"""The `platform` block for Kubernetes: validated by the registry, cheap to import, typos caught."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conductor.config_file import parse_config
from conductor.errors import ConfigError
from conductor.platforms.kubernetes import NoMetrics, metrics_for
from conductor.platforms.kubernetes.objects import image_for, image_tag
from conductor.platforms.kubernetes.settings import KubernetesSettings
from conductor.platforms.registry import validate_platform_settings


def _config(platform: dict[str, object]) -> dict[str, object]:
    return {"orchestration": {"services": ["api"]}, "platform": {"kind": "kubernetes", **platform}}


def test_a_full_platform_block_validates() -> None:
    config = parse_config(
        _config(
            {
                "namespace": "shop",
                "context": "prod",
                "propagationDelay": 45,
                "services": {"api": {"deployment": "api", "httpRoute": "api", "image": "ghcr.io/acme/api"}},
                "metrics": {
                    "kind": "prometheus",
                    "url": "https://prom.example",
                    "preset": "istio",
                    "bearerTokenFile": "/var/run/secrets/prom-token",
                },
            }
        )
    )
    settings = validate_platform_settings(config)
    assert isinstance(settings, KubernetesSettings)
    assert settings.propagation_delay == 45 and settings.service("api").http_route == "api"
    assert settings.service("web").port == 80  # unconfigured service: defaults
    assert settings.metrics.kind == "prometheus"


def test_typos_are_errors_with_a_suggestion() -> None:
    with pytest.raises(
        ConfigError, match=r'platform\.services\.api\.httpRout: unknown key \(did you mean "httpRoute"\?\)'
    ):
        parse_config(_config({"services": {"api": {"httpRout": "api"}}}))
    with pytest.raises(ConfigError, match=r"platform\.metrics"):
        parse_config(_config({"metrics": {"kind": "graphite", "url": "http://x"}}))


def test_without_metrics_every_sample_is_unavailable_never_healthy() -> None:
    provider = metrics_for(KubernetesSettings.model_validate({}))
    assert isinstance(provider, NoMetrics)
    sample = provider.sample("api", "green", 60)
    assert not sample.available and "platform.metrics" in sample.error


def test_settings_import_neither_the_kubernetes_client_nor_an_http_client() -> None:
    code = (
        "import sys; from conductor.config_file import parse_config; "
        "parse_config({'orchestration': {'services': ['api']}, 'platform': {'kind': 'kubernetes', "
        "'metrics': {'kind': 'prometheus', 'url': 'http://p'}}}); "
        "print(sorted(m for m in ('kubernetes', 'httpx2', 'urllib3') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("configured", "current", "version", "expected"),
    [
        ("ghcr.io/acme/api", None, "v2", "ghcr.io/acme/api:v2"),
        ("ghcr.io/acme/api:{version}-slim", None, "v2", "ghcr.io/acme/api:v2-slim"),
        (None, "registry:5000/team/api:v1", "v2", "registry:5000/team/api:v2"),
        (None, "registry:5000/team/api", "v2", "registry:5000/team/api:v2"),
        (None, "api@sha256:abc", "v2", "api:v2"),
    ],
)
def test_image_for_a_version(configured: str | None, current: str | None, version: str, expected: str) -> None:
    assert image_for(configured, current, version) == expected


def test_image_tag() -> None:
    assert image_tag("registry:5000/api:v1.0.0") == "v1.0.0"
    assert image_tag("registry:5000/api") is None
