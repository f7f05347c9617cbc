"""I/O: YouTube-8M TFRecord files without TensorFlow. TFRecord framing and CRCs (``tfrecord``),
the protobuf wire format of ``tf.train.Example`` / ``SequenceExample`` (``protowire``), the
release's schemas and the public read/write API (``records``), work split over ranks and workers
(``shards``), and a data set's summary tables (``inspect``).

May import: core.
"""
