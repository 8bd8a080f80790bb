"""Bio-signal features (ECG, EDA, TEMP, IBI): raw recordings, segment alignment, one module per signal.

KEMDy19 files are read by ``recording``, KEMDy20 files (E4 exports with a header) by ``e4``.

Adding a signal: a module here implementing ``base.BioSignal``, its ``bio.<name>`` config section
(and schema), and one entry in ``constants.BIO_SIGNALS`` (name -> dataset folder), which
``registry`` turns into the signal's module name; ``emoflow.datasets.SIGNALS`` says which datasets have it.
"""
