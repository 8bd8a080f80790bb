"""Text features: the transcript markup policy (``markup``), tokenizers (``spm_model``: the SentencePiece
model file; ``tokenizer``: conversion to and loading of Hugging Face tokenizers; ``spm_train``: the local
tokenizer's training) and the token ids of every segment (``tokens``).

The backbones (``text.pretrained``) are built or fetched by ``emoflow.models.backbone``:

* ``null`` (default, offline): a SentencePiece unigram tokenizer trained on the cleaned transcripts of
  the **training split only** plus a small BERT initialised with a fixed seed, saved in one folder.
* a hub name such as ``skt/kobert-base-v1``: downloaded once (the only step that uses the network) and
  saved in the same Hugging Face format.
* a local folder: used as is, through ``tokenizer.load_tokenizer``.

Offline use of a hub model: on a machine with network run
``hf download skt/kobert-base-v1 --local-dir /path/kobert`` (older clients: ``huggingface-cli download``)
and set ``text.pretrained: /path/kobert``.
"""
