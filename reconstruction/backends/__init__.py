"""Model backends behind one interface (base.py), each in its own lazily imported module."""
