/** What kafkajs hands a codec to compress: an encoder whose `buffer` holds the records. */
export interface CodecInput {
  buffer: Buffer;
}

/** A kafkajs compression codec (the shape `CompressionCodecs[type]()` returns). */
export interface KafkaCodec {
  compress(encoder: CodecInput): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}
