"""``kmz gui``: explore K in the browser (a local web app, standard library only).

``serve()`` is the command; ``start()`` runs the same server in a background
thread; ``add_arguments(parser)`` / ``run(args)`` plug it into a command line.
The page (kmzcodec/web: index.html, app.js, style.css) decodes every result with
kmz.js, so what it shows is the ``.kmz`` it offers for download.
"""

from __future__ import annotations

from .command import Running, add_arguments, run, serve, start

__all__ = ["Running", "add_arguments", "run", "serve", "start"]
