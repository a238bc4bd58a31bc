package io.latentstream.registry.client;

import io.latentstream.registry.RegistryException;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serdes for the generated Avro classes in the Confluent wire format, so any
 * Confluent-compatible consumer can read what we write and the other way round.
 *
 * <p>Subjects follow Confluent's default topic-name strategy: {@code <topic>-value} (or {@code
 * <topic>-key}). The serializer registers the record's schema under it (or, with auto-register off,
 * only looks it up, failing when absent); the deserializer fetches the writer schema by the id in
 * each record and resolves it into the generated class's schema, so old records stay readable after
 * a BACKWARD compatible change. Before decoding, {@link AvroBounds} checks the bytes against the
 * writer schema, so no record, however crafted, makes the decoder allocate more than its size.
 * Decoding failures throw {@link RecordDecodingException} with a code and the original bytes.
 *
 * <p>The serdes are configured by their constructor arguments, not by {@code configure()}: there is
 * no shared mutable configuration.
 */
public final class AvroSerdes {
  private AvroSerdes() {}

  /**
   * How a serde uses the registry.
   *
   * @param autoRegisterSchemas register the writer schema on first use (true), or require it to be
   *     registered already (false, for registries where producers may not register)
   * @param isKey whether the serde is for record keys (subject {@code <topic>-key})
   */
  public record Config(boolean autoRegisterSchemas, boolean isKey) {
    public static final Config VALUES = new Config(true, false);
  }

  /** A value serde for {@code type} that registers its schema on first use. */
  public static <T extends SpecificRecord> Serde<T> specific(
      Class<T> type, SchemaRegistryClient registry) {
    return specific(type, registry, Config.VALUES);
  }

  public static <T extends SpecificRecord> Serde<T> specific(
      Class<T> type, SchemaRegistryClient registry, Config config) {
    return Serdes.serdeFrom(
        new SpecificSerializer<>(type, registry, config),
        new SpecificDeserializer<>(type, registry, config));
  }

  /** The subject of {@code topic} under the topic-name strategy. */
  public static String subject(String topic, boolean isKey) {
    return topic + (isKey ? "-key" : "-value");
  }

  /** Writes records of {@code T} in the wire format. */
  public static final class SpecificSerializer<T extends SpecificRecord> implements Serializer<T> {
    private final SchemaRegistryClient registry;
    private final Config config;
    private final Schema schema;
    private final SpecificDatumWriter<T> writer;
    private final Map<String, Integer> idByTopic = new ConcurrentHashMap<>();

    public SpecificSerializer(Class<T> type, SchemaRegistryClient registry, Config config) {
      this.registry = registry;
      this.config = config;
      SpecificData model = SpecificData.getForClass(type);
      this.schema = model.getSchema(type);
      this.writer = new SpecificDatumWriter<>(schema, model);
    }

    @Override
    public byte[] serialize(String topic, T record) {
      if (record == null) {
        return null; // tombstones stay tombstones
      }
      int id = idByTopic.computeIfAbsent(topic, this::schemaId);
      return WireFormat.encode(id, writer, record);
    }

    private int schemaId(String topic) {
      String subject = subject(topic, config.isKey());
      if (config.autoRegisterSchemas()) {
        return registry.register(subject, schema);
      }
      return registry
          .lookup(subject, schema)
          .orElseThrow(
              () ->
                  new org.apache.kafka.common.errors.SerializationException(
                      "schema "
                          + schema.getFullName()
                          + " is not registered under "
                          + subject
                          + " and auto-registration is off"));
    }
  }

  /** Reads wire-format records into {@code T}, whatever compatible schema wrote them. */
  public static final class SpecificDeserializer<T extends SpecificRecord>
      implements Deserializer<T> {
    private final SchemaRegistryClient registry;
    private final SpecificData model;
    private final Schema readerSchema;
    private final Map<Integer, Writer<T>> byWriterId = new ConcurrentHashMap<>();

    /** A writer schema and the reader that resolves it into T. */
    private record Writer<T>(Schema schema, DatumReader<T> reader) {}

    public SpecificDeserializer(Class<T> type, SchemaRegistryClient registry, Config config) {
      this.registry = registry;
      this.model = SpecificData.getForClass(type);
      this.readerSchema = model.getSchema(type);
    }

    @Override
    public T deserialize(String topic, byte[] bytes) {
      if (bytes == null) {
        return null;
      }
      int id = WireFormat.schemaId(bytes);
      Writer<T> writer = byWriterId.get(id);
      if (writer == null) {
        Schema schema = writerSchema(id, bytes);
        writer = new Writer<>(schema, new SpecificDatumReader<>(schema, readerSchema, model));
        byWriterId.put(id, writer);
      }
      try {
        AvroBounds.check(
            writer.schema(), bytes, WireFormat.HEADER_SIZE, bytes.length - WireFormat.HEADER_SIZE);
      } catch (AvroBounds.Violation e) {
        throw new RecordDecodingException(
            RecordDecodingException.Code.UNDECODABLE,
            "not a safe "
                + readerSchema.getFullName()
                + " written with schema id "
                + id
                + ": "
                + e.getMessage(),
            bytes,
            e);
      }
      DatumReader<T> reader = writer.reader();
      BinaryDecoder decoder =
          DecoderFactory.get()
              .binaryDecoder(
                  bytes, WireFormat.HEADER_SIZE, bytes.length - WireFormat.HEADER_SIZE, null);
      T record;
      try {
        record = reader.read(null, decoder);
        if (!decoder.isEnd()) {
          throw new RecordDecodingException(
              RecordDecodingException.Code.UNDECODABLE,
              "trailing bytes after a "
                  + readerSchema.getFullName()
                  + " written with schema id "
                  + id,
              bytes,
              null);
        }
      } catch (IOException
          | AvroRuntimeException
          | IndexOutOfBoundsException
          | NegativeArraySizeException
          | ClassCastException
          | UnsupportedOperationException e) {
        // Avro reports corrupt input through any of these (EOF, bad union index, bad lengths).
        throw new RecordDecodingException(
            RecordDecodingException.Code.UNDECODABLE,
            "not a " + readerSchema.getFullName() + " written with schema id " + id + ": " + e,
            bytes,
            e);
      }
      return record;
    }

    private Schema writerSchema(int id, byte[] bytes) {
      try {
        return registry.schemaById(id);
      } catch (RegistryUnavailableException e) {
        throw new RecordDecodingException(
            RecordDecodingException.Code.REGISTRY_UNAVAILABLE, e.getMessage(), bytes, e);
      } catch (RegistryException e) {
        if (e.errorCode() == RegistryException.SCHEMA_NOT_FOUND) {
          throw new RecordDecodingException(
              RecordDecodingException.Code.UNKNOWN_SCHEMA_ID,
              "the registry has no schema with id " + id,
              bytes,
              e);
        }
        throw e;
      }
    }
  }
}
