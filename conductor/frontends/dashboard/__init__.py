"""The dashboard front end: ``conductor dashboard`` (a token-protected local web page, live) and
the shareable report file (``conductor report --html``), drawn from the journal.

    server.py    the aiohttp application: pages, live updates, actions only with --allow-actions
    access.py    the token, the Host check, CSRF, the security headers; served.py the socket
    pages.py     the pages (jinja2, everything escaped and neutralised), shared with the report file
    charts.py    which series go into which chart; svg.py / png.py draw a chart
    actions.py   what a person may do from the page, said exactly, done through the session
    report.py    the self-contained HTML / markdown report of one release

The series come from :mod:`conductor.release_history`, below the front ends.
"""
