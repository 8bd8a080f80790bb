"""Bio-signal features (ECG, EDA, TEMP): raw recordings, segment alignment, one module per signal.

Adding a signal: a module here implementing ``base.BioSignal``, its ``bio.<name>`` config section
(and schema), and one entry in ``constants.BIO_SIGNALS`` (name -> dataset folder), which
``registry`` turns into the signal's module name.
"""
