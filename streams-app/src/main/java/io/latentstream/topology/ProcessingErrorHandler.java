package io.latentstream.topology;

import java.util.Map;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProcessingExceptionHandler;
import org.apache.kafka.streams.processor.api.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kafka Streams' processing exception handler (KIP-1033, {@code processing.exception.handler}): the
 * backstop behind the topology's own handling, which turns every failure of one prompt into one
 * {@code generation-errors} event. What reaches here escaped that: a Kafka failure of the task
 * itself (a store, the producer, the registry unreachable) fails the task, so the record is
 * consumed again and never dropped; anything else is logged with the record's coordinates and
 * skipped, so that no record can stop a stream thread.
 */
public final class ProcessingErrorHandler implements ProcessingExceptionHandler {
  private static final Logger LOG = LoggerFactory.getLogger(ProcessingErrorHandler.class);

  @Override
  public ProcessingHandlerResponse handle(
      ErrorHandlerContext context, Record<?, ?> record, Exception exception) {
    if (exception instanceof KafkaException) {
      return ProcessingHandlerResponse.FAIL;
    }
    LOG.error(
        "skipped {}-{}@{} after an unexpected failure in {} (task {})",
        context.topic(),
        context.partition(),
        context.offset(),
        context.processorNodeId(),
        context.taskId(),
        exception);
    return ProcessingHandlerResponse.CONTINUE;
  }

  @Override
  public void configure(Map<String, ?> configs) {}
}
