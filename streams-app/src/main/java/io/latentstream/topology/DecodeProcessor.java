package io.latentstream.topology;

import io.latentstream.registry.client.RecordDecodingException;
import io.latentstream.schemas.ErrorCode;
import io.latentstream.schemas.PromptRequest;
import java.time.Instant;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The decode node: every record bound for generate, decoded, and each prompt checked for what needs
 * no state ({@link PromptValidator}), tokenized included. It holds no state, so a hostile record
 * costs it one refusal and nothing else; whatever it cannot decode or accept goes on to generate as
 * a {@link Arrival.Refused}, to be reported with the refusals that need state.
 */
final class DecodeProcessor implements Processor<String, byte[], String, Arrival> {
  private static final Logger LOG = LoggerFactory.getLogger(DecodeProcessor.class);

  private final Topics topics;
  private final TopologySettings settings;
  private final PromptValidator validator;
  private final Deserializer<PromptRequest> prompts;
  private final Deserializer<Claims.Verdict> verdicts;
  private ProcessorContext<String, Arrival> context;

  DecodeProcessor(Topics topics, PromptValidator validator, TopologySettings settings) {
    this.topics = topics;
    this.settings = settings;
    this.validator = validator;
    this.prompts = topics.prompts().valueSerde().deserializer();
    this.verdicts = topics.requestVerdicts().valueSerde().deserializer();
  }

  @Override
  public void init(ProcessorContext<String, Arrival> context) {
    this.context = context;
  }

  @Override
  public void process(Record<String, byte[]> record) {
    RecordMetadata source = context.recordMetadata().orElseThrow();
    if (source.topic().equals(topics.requestVerdicts().name())) {
      Claims.Verdict verdict = verdicts.deserialize(source.topic(), record.value());
      context.forward(record.withValue(new Arrival.Verdict(verdict)));
      return;
    }
    context.forward(record.withValue(decode(record, source)));
  }

  /** A prompts record as a valid prompt or as its refusal. */
  private Arrival decode(Record<String, byte[]> record, RecordMetadata source) {
    String tenant = topics.tenantOfPrompts(source.topic());
    PromptRequest prompt;
    try {
      if (record.value() == null) {
        throw new RecordDecodingException(
            RecordDecodingException.Code.UNDECODABLE, "the record has no value", null, null);
      }
      prompt = prompts.deserialize(source.topic(), record.value());
    } catch (RecordDecodingException e) {
      if (e.code() == RecordDecodingException.Code.REGISTRY_UNAVAILABLE) {
        throw e; // transient: the task fails and the record is consumed again, never dropped
      }
      return refused(record, null, ErrorCode.valueOf(e.code().name()), e.getMessage());
    } catch (RuntimeException e) {
      if (e instanceof KafkaException) {
        throw e;
      }
      LOG.error("failed while decoding; refused as an internal error", e);
      return refused(record, null, ErrorCode.INTERNAL_ERROR, String.valueOf(e));
    }
    try (RequestLogContext logContext =
        RequestLogContext.of(prompt.getRequestId(), prompt.getSessionId())) {
      PromptValidator.checkTenant(prompt, tenant);
      return new Arrival.Prompt(validator.validate(prompt), record.value());
    } catch (PromptRejected e) {
      return refused(record, prompt.getRequestId(), e.code(), e.getMessage());
    } catch (RuntimeException e) {
      if (e instanceof KafkaException) {
        throw e;
      }
      LOG.error("failed while validating; refused as an internal error", e);
      return refused(record, prompt.getRequestId(), ErrorCode.INTERNAL_ERROR, String.valueOf(e));
    }
  }

  private Arrival.Refused refused(
      Record<String, byte[]> record, String requestId, ErrorCode code, String message) {
    RecordMetadata source = context.recordMetadata().orElseThrow();
    return Arrival.Refused.of(
        topics.tenantOfPrompts(source.topic()),
        requestId,
        code,
        message,
        source,
        record.key(),
        record.value(),
        settings,
        Instant.ofEpochMilli(context.currentSystemTimeMs()));
  }
}
