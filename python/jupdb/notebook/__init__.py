"""The notebook layer: jupdb from IPython and Jupyter.

Everything here drives the debugged program through :class:`jupdb.Session`
only; nothing in this package touches sockets.
"""
