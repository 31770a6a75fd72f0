"""The web dashboard: what happened, what needs a person, and whether the months reconcile.

Server-rendered pages (Flask and Jinja2, served by waitress), no script and nothing fetched from
elsewhere; charts are SVG drawn on the server. Reading needs no secret; Retry needs
DASHBOARD_TOKEN.
"""
