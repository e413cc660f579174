"""Adapters of seqcore's estimators to other libraries' interfaces.

Each lives in its own module and imports its library only when imported
itself: ``seqcore.integrations.sktime`` needs sktime (``pip install
'seqcore[sktime]'``), which is not a dependency of seqcore.
"""
