"""cruxlab: climbing-move analytics and labeling.

The shared vocabulary of every package lives here: the canonical joints (`cruxlab.joints`), the skeleton
interchange file (`cruxlab.skeleton`), user-facing errors (`cruxlab.errors`) and the `cruxlab` command line.
Nothing here imports a heavy package.
"""

__version__ = "0.1.0"
