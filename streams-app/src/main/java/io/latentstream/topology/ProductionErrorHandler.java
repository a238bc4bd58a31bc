package io.latentstream.topology;

import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kafka Streams' production exception handler (KIP-210, {@code production.exception.handler}).
 * Output events are bounded below the producer's limit by construction ({@link
 * LatentstreamTopology#checkOutputBound}); should one be too large anyway (a topic whose {@code
 * max.message.bytes} was lowered), it is logged and skipped rather than stopping the stream thread,
 * which would fail on the same output again after every restart. Every other failure keeps Kafka
 * Streams' default: the task fails and its uncommitted work is redone.
 */
public final class ProductionErrorHandler implements ProductionExceptionHandler {
  private static final Logger LOG = LoggerFactory.getLogger(ProductionErrorHandler.class);

  @Override
  public ProductionExceptionHandlerResponse handle(
      ErrorHandlerContext context, ProducerRecord<byte[], byte[]> record, Exception exception) {
    if (exception instanceof RecordTooLargeException) {
      LOG.error(
          "skipped an output event of {} bytes to {}, produced for {}-{}@{}: {}",
          record.value() == null ? 0 : record.value().length,
          record.topic(),
          context.topic(),
          context.partition(),
          context.offset(),
          exception.getMessage());
      return ProductionExceptionHandlerResponse.CONTINUE;
    }
    return ProductionExceptionHandlerResponse.FAIL;
  }

  @Override
  public void configure(Map<String, ?> configs) {}
}
