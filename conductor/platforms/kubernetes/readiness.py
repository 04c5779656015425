"""Waiting for a Deployment to finish rolling out, and saying why it did not.

A version that never becomes ready is a *platform* failure (the image does not pull, the pod
cannot be scheduled, the container crashes on start), reported with the cause Kubernetes gives
in pod status and events, so the person fixes the registry, the quota or the config instead of
blaming the release. Traffic is never touched while waiting.

Waiting polls (``get`` every ``pollInterval`` on the injected clock) rather than watching: a
readiness wait is seconds to minutes, a poll survives API server restarts and watch expiry
(410 Gone) without bookkeeping, and a virtual clock replays it instantly in tests.
"""

from __future__ import annotations

from conductor.clock import Clock
from conductor.errors import NotReadyError
from conductor.platforms.kubernetes.api import KubeApi
from conductor.platforms.kubernetes.objects import (
    ANN_VERSION,
    FATAL_REASONS,
    Obj,
    deadline_exceeded,
    pod_problems,
    pod_ready,
    rollout_complete,
)


class RolloutWaiter:
    def __init__(self, api: KubeApi, clock: Clock, poll_interval: float, fail_fast: bool) -> None:
        self._api = api
        self._clock = clock
        self._poll = poll_interval
        self._fail_fast = fail_fast

    def wait(self, deployment: str, selector: dict[str, str], version: str | None, timeout: float, what: str) -> Obj:
        """Return the Deployment once its rollout is complete; raise NotReadyError with the cause.

        Fails before the timeout when ``fail_fast`` and a pod of ``version`` is in a state that
        only a person can fix (ImagePullBackOff, CrashLoopBackOff, InvalidImageName, ...). A
        transient ErrImagePull or an Unschedulable pod (an autoscaler may add a node) gets the
        whole timeout.
        """
        started = self._clock.now()
        while True:
            current = self._api.get("deployment", deployment)
            if current is None:
                raise NotReadyError(f"{what}: Deployment {deployment} disappeared while waiting for it")
            if rollout_complete(current):
                return current
            pods = [
                pod
                for pod in self._api.list_pods(selector)
                if version is None or (pod["metadata"].get("annotations") or {}).get(ANN_VERSION) == version
            ]
            problems = [(pod, reason, message) for pod in pods for reason, message in pod_problems(pod)]
            elapsed = self._clock.now() - started
            fatal = [p for p in problems if p[1] in FATAL_REASONS]
            if self._fail_fast and fatal:
                failing = {id(pod) for pod, _, _ in fatal}
                first = [p for p in problems if id(p[0]) in failing]
                raise NotReadyError(self._describe(what, elapsed, first, current, pods))
            if deadline_exceeded(current) or elapsed >= timeout:
                raise NotReadyError(self._describe(what, elapsed, problems, current, pods))
            self._clock.sleep(min(self._poll, timeout - elapsed))

    def _describe(
        self, what: str, elapsed: float, problems: list[tuple[Obj, str, str]], deployment: Obj, pods: list[Obj]
    ) -> str:
        status = deployment.get("status") or {}
        counts = (
            f"{status.get('availableReplicas', 0) or 0}/{deployment['spec'].get('replicas', 1)} available, "
            f"{status.get('updatedReplicas', 0) or 0} updated"
        )
        if problems:
            name = problems[0][0]["metadata"]["name"]
            reasons = [f"{r}: {m}" if m else r for pod, r, m in problems if pod["metadata"]["name"] == name]
            cause = f"pod {name}: " + "; ".join(reasons)
            event = self._last_warning(name)
            if event:
                cause += f" (event {event})"
            others = len({p[0]["metadata"]["name"] for p in problems}) - 1
            if others > 0:
                cause += f"; {others} more pod(s) failing"
        elif unready := [p for p in pods if not pod_ready(p)]:
            name = unready[0]["metadata"]["name"]
            event = self._last_warning(name)
            cause = f"pod {name} is running but not ready" + (f" (event {event})" if event else "")
        elif deadline_exceeded(deployment):
            cause = "the Deployment exceeded its progressDeadlineSeconds"
        else:
            cause = "no pod of this version appeared (check quotas and the ReplicaSet's events)"
        return (
            f"{what} was not ready after {elapsed:g}s ({counts}): {cause}. "
            "This is a platform failure, not a verdict on the release; traffic was not touched."
        )

    def _last_warning(self, pod: str) -> str:
        """The most telling recent Warning: a "BackOff" only repeats an earlier cause, so prefer that."""
        events = [e for e in self._api.list_events(pod) if e.get("type") == "Warning"]
        if not events:
            return ""
        telling = [e for e in events if e.get("reason") != "BackOff"] or events
        latest = max(telling, key=lambda e: (e.get("lastTimestamp") or e.get("eventTime") or "", e.get("count") or 0))
        return f"{latest.get('reason')}: {latest.get('message')}"
