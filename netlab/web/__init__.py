"""`netlab web`: a live view of running labs in the browser (docs/web.md).

- view.py: pure: a plan as the page's graph, traces and check results as coloured paths,
  counters as rates. Tested without a kernel or a browser.
- live.py: what the page shows live, read through the backend (Backend.open_socket,
  Backend.status), never by stepping into namespaces here.
- server.py: the aiohttp application (JSON endpoints, a websocket, the actions).
- static/: the page; static/vendor/ holds cytoscape.js and its fcose layout, shipped in
  the package with their licences so nothing is fetched at run time.
"""
