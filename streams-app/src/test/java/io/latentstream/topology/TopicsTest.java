package io.latentstream.topology;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.latentstream.registry.client.AvroSerdes;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.FinishReason;
import io.latentstream.schemas.Timings;
import io.latentstream.schemas.Usage;
import java.io.IOException;
import java.util.List;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.Test;

class TopicsTest {
  @Test
  void namesCarryThePrefixAndSerdesRegisterUnderThePrefixedSubject() throws IOException {
    try (EmbeddedSchemaRegistry registry = EmbeddedSchemaRegistry.inMemory().start()) {
      SchemaRegistryClient client =
          new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
      Topics topics = Topics.create("team-a.", client);
      assertEquals("team-a.prompts", topics.prompts().name());
      assertEquals("team-a.tokens", topics.tokens().name());
      assertEquals("team-a.token-chunks", topics.tokenChunks().name());
      assertEquals("team-a.completions", topics.completions().name());
      assertEquals("team-a.generation-errors", topics.generationErrors().name());

      topics.completions().valueSerde().serializer().serialize(topics.completions().name(), null);
      assertEquals(List.of(), client.subjects(), "a tombstone registers nothing");
      Completion completion =
          Completion.newBuilder()
              .setRequestId("r")
              .setText("")
              .setTokenIds(List.of())
              .setFinishReason(FinishReason.LENGTH)
              .setUsage(new Usage(1, 0, 0))
              .setTimings(new Timings(0L, 0L, 0L))
              .setModelId("m")
              .setWeightsDigest("d")
              .build();
      topics
          .completions()
          .valueSerde()
          .serializer()
          .serialize(topics.completions().name(), completion);
      assertEquals(List.of("team-a.completions-value"), client.subjects());
    }
  }

  @Test
  void newTopicsAreTheEventLogsAndTheClaimTopicsUnderThePrefix() {
    List<NewTopic> created = Topics.newTopics("", 6, (short) 3);
    assertEquals(
        List.of(
            "prompts",
            "tokens",
            "token-chunks",
            "completions",
            "generation-errors",
            "request-claims",
            "request-verdicts"),
        created.stream().map(NewTopic::name).toList());
    for (NewTopic topic : created) {
      assertEquals(6, topic.numPartitions());
      assertEquals(3, topic.replicationFactor());
      assertEquals(
          TopicConfig.CLEANUP_POLICY_DELETE,
          topic.configs().get(TopicConfig.CLEANUP_POLICY_CONFIG));
      assertEquals("2", topic.configs().get(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG));
    }
  }

  @Test
  void tenantsHaveEventTopicsOfTheirOwnAndShareTheClaimTopics() {
    assertEquals(
        List.of(
            "d.a.prompts",
            "d.a.tokens",
            "d.a.token-chunks",
            "d.a.completions",
            "d.a.generation-errors",
            "d.b-2.prompts",
            "d.b-2.tokens",
            "d.b-2.token-chunks",
            "d.b-2.completions",
            "d.b-2.generation-errors",
            "d.request-claims",
            "d.request-verdicts"),
        Topics.newTopics("d.", List.of("a", "b-2"), 2, (short) 1).stream()
            .map(NewTopic::name)
            .toList());
    Topics topics = Topics.create("d.", List.of("a", "b-2"), null, AvroSerdes.Config.VALUES);
    assertEquals(List.of("d.a.prompts", "d.b-2.prompts"), topics.promptTopics());
    assertEquals("b-2", topics.tenantOfPrompts("d.b-2.prompts"));
    assertThrows(IllegalArgumentException.class, () -> topics.tenantOfPrompts("d.prompts"));
    Topics b = topics.tenant("b-2");
    assertEquals("d.b-2.completions", b.completions().name());
    assertEquals("d.b-2.token-chunks", b.tokenChunks().name());
    assertEquals("d.request-verdicts", b.requestVerdicts().name());
    assertEquals("b-2", b.viewTenant());
    // Without tenants apart, the one prompts topic, whose prompts name their tenant.
    Topics untenanted = Topics.create("d.", null);
    assertEquals(List.of("d.prompts"), untenanted.promptTopics());
    assertEquals(null, untenanted.tenantOfPrompts("d.prompts"));
  }

  @Test
  void aTenantNameThatWouldBlurTopicNamesIsRefused() {
    for (String bad : List.of("a.b", "", "-a", "a/b", "a b")) {
      assertThrows(
          IllegalArgumentException.class,
          () -> Topics.newTopics("d.", List.of(bad), 1, (short) 1),
          bad);
    }
    assertThrows(
        IllegalArgumentException.class,
        () -> Topics.create("d.", List.of("a", "a"), null, AvroSerdes.Config.VALUES));
  }

  @Test
  void aPrefixThatKafkaWouldRefuseIsRefusedAtOnce() {
    assertThrows(IllegalArgumentException.class, () -> Topics.name("team a/", Topics.PROMPTS));
    assertEquals("x_1-y.tokens", Topics.name("x_1-y.", Topics.TOKENS));
  }
}
