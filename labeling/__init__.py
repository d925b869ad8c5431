"""Label Studio round trip: coaches correct moves in Label Studio, cruxlab keeps their labels.

    server.py  start/stop/health of a local Label Studio (own venv .venv-ls, 127.0.0.1, offline, template
               data dir) and its admin token            -> `cruxlab label serve`
    client.py  label-studio-sdk wrapper whose errors say what to do (server down, wrong token, refusals)
    tasks.py   labelling configs, predictions <-> regions, exact frame numbering (Label Studio video frames
               are 1-based), the joint-angle CSV of skeleton-only attempts
    sync.py    push attempts with their moves as predictions / pull annotations into the label history
    cli.py     `cruxlab label serve|push|pull|status`

Importing this package imports neither the SDK nor the database: each command loads what it uses.
"""
