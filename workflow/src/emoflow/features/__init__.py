"""Feature extraction, one area per modality: ``bio`` (ECG, EDA, TEMP), ``text`` and ``audio``."""
