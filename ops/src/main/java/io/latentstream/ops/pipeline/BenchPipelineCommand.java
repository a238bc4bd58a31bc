package io.latentstream.ops.pipeline;

import io.latentstream.engine.Engine;
import io.latentstream.model.ModelConfig;
import io.latentstream.ops.BackendOption;
import io.latentstream.ops.local.LocalKafkaCluster;
import io.latentstream.ops.local.RunDirectory;
import io.latentstream.registry.client.RegistryClientConfig;
import io.latentstream.registry.client.SchemaRegistryClient;
import io.latentstream.registry.embedded.EmbeddedRegistryConfig;
import io.latentstream.registry.embedded.EmbeddedSchemaRegistry;
import io.latentstream.runtime.Backends;
import io.latentstream.scheduler.GenerationListener;
import io.latentstream.scheduler.GenerationLoop;
import io.latentstream.scheduler.GenerationOutcome;
import io.latentstream.scheduler.GenerationRequest;
import io.latentstream.scheduler.TokenEmission;
import io.latentstream.schemas.Completion;
import io.latentstream.schemas.PromptRequest;
import io.latentstream.schemas.SamplingParams;
import io.latentstream.schemas.TextInput;
import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import io.latentstream.schemas.TokenEventForm;
import io.latentstream.serving.ServedModel;
import io.latentstream.tokenizer.Tokenizer;
import io.latentstream.topology.LatentstreamTopology;
import io.latentstream.topology.StreamsSettings;
import io.latentstream.topology.Topics;
import io.latentstream.topology.TopologySettings;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The pipeline benchmark: the same concurrent prompts through a real broker and against the
 * engine's generation loop alone, in one run. Reports aggregate tokens/s of both and their ratio,
 * and the latency of each token from the engine's emission to a read_committed consumer, under
 * at-least-once and exactly-once.
 */
@Command(
    name = "bench-pipeline",
    mixinStandardHelpOptions = true,
    description = {
      "Benchmarks prompts through Kafka against the engine alone, in one run.",
      "The same concurrent prompts both ways: tokens/s of both, emission-to-consumer latency per",
      "token under both guarantees, and CPU per token of the service and the broker."
    })
public final class BenchPipelineCommand implements Callable<Integer> {
  /**
   * Warm-up ends when this many round pairs in a row (engine alone, then through Kafka) each spent
   * under {@link #QUIET_JIT_US} microseconds per token in the JIT compilers: about 3% of the
   * engine's ~600 us of CPU per token on the development machine. The compilers stayed busy for
   * 12-37 round pairs there; the Kafka rounds' compilation (most likely Kafka client paths
   * deoptimized and recompiled as the pipeline alternates between idle and busy) fades last.
   */
  private static final int QUIET_ROUNDS = 3;

  private static final int QUIET_JIT_US = 20;

  private static final List<String> TEXTS =
      List.of(
          "The jury said",
          "It was a",
          "The president of the",
          "In the morning",
          "She looked at",
          "The committee",
          "When he came",
          "There is no");

  @Spec picocli.CommandLine.Model.CommandSpec spec;

  /** The served loop's output, step by step, over the current run. */
  private Timeline timeline;

  @Mixin BackendOption backend = new BackendOption();

  /** What generates the tokens: the checkpoint's model, or the benchmark-only synthetic engine. */
  enum EngineKind {
    model,
    synthetic
  }

  @Option(
      names = "--engine",
      defaultValue = "model",
      description =
          "model (the checkpoint on --backend) or synthetic: a benchmark-only engine whose forward"
              + " pass costs next to nothing (tokens hashed from seed and index, the checkpoint's"
              + " config and tokenizer), so the run measures the pipeline's own capacity (default"
              + " ${DEFAULT-VALUE}).")
  EngineKind engine;

  @Option(
      names = "--model",
      defaultValue = "models/brown-mtp",
      description = "Checkpoint (default ${DEFAULT-VALUE}).")
  Path model;

  @Option(
      names = "--prompts",
      defaultValue = "128",
      description =
          "Prompts per round, published at once (default ${DEFAULT-VALUE}): several times"
              + " --concurrency, so that a round's start and drain (the first tokens, the last"
              + " commit) are a small part of it.")
  int prompts;

  @Option(
      names = "--concurrency",
      defaultValue = "32",
      description =
          "Requests generating at once, in both paths: the loop's max running sequences (default"
              + " ${DEFAULT-VALUE}); the others wait their turn.")
  int concurrency;

  @Option(
      names = "--max-new-tokens",
      defaultValue = "128",
      description = "Tokens per prompt at most (default ${DEFAULT-VALUE}).")
  int maxNewTokens;

  @Option(
      names = "--repeats",
      defaultValue = "3",
      description = "Runs of each mode; medians are reported (default ${DEFAULT-VALUE}).")
  int repeats;

  @Option(
      names = "--warmup",
      defaultValue = "8",
      description =
          "Unmeasured rounds of each mode first, at least (default ${DEFAULT-VALUE}); warm-up goes"
              + " on until the JIT compilers are done: "
              + QUIET_ROUNDS
              + " rounds in a row compiling under "
              + QUIET_JIT_US
              + " us per token.")
  int warmup;

  @Option(
      names = "--max-warmup",
      defaultValue = "60",
      description = "Warm-up rounds of each mode at most (default ${DEFAULT-VALUE}).")
  int maxWarmup;

  @Option(
      names = "--guarantees",
      split = ",",
      defaultValue = "at_least_once,exactly_once_v2",
      description =
          "Processing guarantees to measure, each in its own phase (default ${DEFAULT-VALUE}).")
  List<String> guarantees;

  @Option(
      names = "--emit-interval",
      description =
          "Milliseconds between the topology's token forwards, and Kafka Streams' poll.ms (the"
              + " service's LATENTSTREAM_EMIT_INTERVAL_MS; default ${DEFAULT-VALUE}): shorter"
              + " means lower latency and more broker requests per token.")
  long emitIntervalMs = TopologySettings.defaults().emitInterval().toMillis();

  @Option(
      names = "--token-events",
      split = ",",
      defaultValue = "TOKEN",
      description =
          "Forms of token events to measure, each guarantee with each in its own phase: TOKEN (one"
              + " TokenEvent per token) and CHUNK (one TokenChunk per request per emit), chosen by"
              + " the prompts' token_events (default ${DEFAULT-VALUE}).")
  List<TokenEventForm> tokenEvents;

  @Option(
      names = "--compression",
      description =
          "compression.type of the service's producer (none, lz4, zstd, gzip, snappy; default: the"
              + " deployment's, lz4): the tokens topic's bytes per token are reported.")
  String compression;

  @Option(
      names = "--linger-ms",
      description =
          "linger.ms of the service's producer (default: the deployment's, 25 under"
              + " exactly_once_v2 and 2 under at_least_once).")
  Integer lingerMs;

  @Option(
      names = "--commit-interval-ms",
      description =
          "commit.interval.ms of Kafka Streams (default: the deployment's, 100 under"
              + " exactly_once_v2, LATENTSTREAM_COMMIT_INTERVAL_MS, and 30 s under at_least_once):"
              + " under exactly-once each commit is a transaction, whose broker work the interval's"
              + " tokens share, and tokens become visible at commits.")
  Integer commitIntervalMs;

  @Option(
      names = "--probes",
      defaultValue = "20",
      description =
          "Lone requests per guarantee, after its runs, timed to their first token engine alone"
              + " and through Kafka (default ${DEFAULT-VALUE}).")
  int probes;

  @Option(
      names = "--partitions",
      defaultValue = "2",
      description = "Partitions of the prompts topic (default ${DEFAULT-VALUE}).")
  int partitions;

  @Option(
      names = "--sessions",
      defaultValue = "0",
      description =
          "Load test instead: this many concurrent sessions of --turns turns each, all published at"
              + " once, under exactly_once_v2 (default 0: off).")
  int sessions;

  @Option(
      names = "--turns",
      defaultValue = "2",
      description = "Turns per session in the --sessions load test (default ${DEFAULT-VALUE}).")
  int turns;

  /**
   * One run's figures, with the CPU time this JVM (engine, topology, clients) and the broker
   * process spent on it, and how much of this JVM's went to its JIT compilers.
   *
   * @param steadyTokensPerSecond the loop's output rate in the run's steady state ({@link
   *     Timeline})
   */
  private record Run(
      long tokens,
      double seconds,
      double steadyTokensPerSecond,
      long[] latenciesMs,
      long[] firstTokenMs,
      Cpu cpu,
      long tokenTopicBytes) {
    double tokensPerSecond() {
      return tokens / seconds;
    }

    double compileMicrosPerToken() {
      return cpu.compile() * 1e6 / tokens;
    }

    String summary() {
      return String.format(
          "%.0f, steady %.0f (%.0f + %.0f, JIT %.0f)",
          tokensPerSecond(),
          steadyTokensPerSecond,
          cpu.service() * 1e6 / tokens,
          cpu.broker() * 1e6 / tokens,
          compileMicrosPerToken());
    }
  }

  /**
   * CPU seconds of this JVM and of the broker process, the seconds this JVM's JIT compilers have
   * spent compiling (elapsed time, summed over compiler threads, as the JVM reports it), and this
   * JVM's CPU by thread group.
   */
  private record Cpu(double service, double broker, double compile, ThreadCpu threads) {
    static Cpu now(LocalKafkaCluster kafka) {
      var os =
          (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
      return new Cpu(
          os.getProcessCpuTime() / 1e9,
          brokerCpuSeconds(kafka.pid(0)),
          ManagementFactory.getCompilationMXBean().getTotalCompilationTime() / 1e3,
          ThreadCpu.now());
    }

    Cpu since(Cpu before) {
      return new Cpu(
          service - before.service,
          broker - before.broker,
          compile - before.compile,
          threads.since(before.threads));
    }

    /** What no Java thread accounts for: the JVM's own threads (garbage collection, JIT). */
    double jvm() {
      return service - threads.streams() - threads.loop() - threads.producerIo() - threads.other();
    }
  }

  /**
   * CPU seconds of this JVM's Java threads by role, told apart by the names Kafka and the service
   * give them: Kafka Streams' stream threads (poll, process, punctuate, commit, store writes), the
   * generation loop (scheduling, detokenizing, the engine's step) with the CPU engine's kernel
   * crew, the network threads of the Streams producers (serialized batches to the broker), and the
   * rest (this benchmark's publisher and reader, the registry). A thread that ended between two
   * readings loses its CPU; these all live throughout.
   */
  private record ThreadCpu(double streams, double loop, double producerIo, double other) {
    static ThreadCpu now() {
      java.lang.management.ThreadMXBean bean = ManagementFactory.getThreadMXBean();
      double streams = 0;
      double loop = 0;
      double producerIo = 0;
      double other = 0;
      for (java.lang.management.ThreadInfo info : bean.getThreadInfo(bean.getAllThreadIds())) {
        long nanos = info == null ? -1 : bean.getThreadCpuTime(info.getThreadId());
        if (nanos < 0) {
          continue;
        }
        double seconds = nanos / 1e9;
        String name = info.getThreadName();
        if (name.startsWith("kafka-producer-network-thread") && name.contains("StreamThread")) {
          producerIo += seconds;
        } else if (name.contains("StreamThread") || name.contains("StateUpdater")) {
          streams += seconds;
        } else if (name.equals("generation-loop") || name.startsWith("latentstream-kernels-")) {
          loop += seconds;
        } else {
          other += seconds;
        }
      }
      return new ThreadCpu(streams, loop, producerIo, other);
    }

    ThreadCpu since(ThreadCpu before) {
      return new ThreadCpu(
          streams - before.streams,
          loop - before.loop,
          producerIo - before.producerIo,
          other - before.other);
    }
  }

  /**
   * Waits, up to 10 s, until this JVM and the broker together use under a tenth of a core: what a
   * phase leaves behind (compilations it queued, collections) is not charged to the next phase.
   */
  private static void settle(LocalKafkaCluster kafka) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    Cpu last = Cpu.now(kafka);
    while (System.nanoTime() < deadline) {
      Thread.sleep(250);
      Cpu now = Cpu.now(kafka);
      if ((now.service() - last.service()) + (now.broker() - last.broker()) < 0.025) {
        return;
      }
      last = now;
    }
  }

  /** utime + stime of a Linux process, from /proc/PID/stat (clock ticks of 1/100 s). */
  private static double brokerCpuSeconds(long pid) {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
      String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) / 100.0;
    } catch (IOException | RuntimeException e) {
      return Double.NaN; // not Linux: the CPU columns stay empty
    }
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    for (String guarantee : guarantees) {
      if (!List.of(StreamsConfig.AT_LEAST_ONCE, StreamsConfig.EXACTLY_ONCE_V2)
          .contains(guarantee)) {
        throw new picocli.CommandLine.ParameterException(
            spec.commandLine(),
            "--guarantees: " + guarantee + " is neither at_least_once nor exactly_once_v2");
      }
    }
    try (RunDirectory runData = RunDirectory.create("bench-pipeline-");
        LocalKafkaCluster kafka =
            new LocalKafkaCluster(LocalKafkaCluster.Config.of(1, runData.path().resolve("kafka")))
                .start();
        EmbeddedSchemaRegistry registry =
            new EmbeddedSchemaRegistry(EmbeddedRegistryConfig.of(kafka.bootstrapServers()))
                .start();
        Backends.Loaded loaded =
            engine == EngineKind.synthetic
                ? null
                : Backends.load(
                    backend.name,
                    model,
                    Backends.CudaSizes.forLoop(
                        loopSettings().maxRunning(),
                        loopSettings().maxStepTokens(),
                        Backends.CudaSizes.DEFAULT_CACHE_BYTES));
        ServedModel served =
            ServedModel.serve(
                loaded == null ? syntheticEngine() : loaded.engine(),
                model,
                "bench",
                loopSettings())) {
      Path data = runData.path();
      SchemaRegistryClient client =
          new SchemaRegistryClient(RegistryClientConfig.of(registry.url().toString()));
      if (sessions > 0) {
        return sessionsLoad(out, kafka, client, served, data);
      }
      timeline = new Timeline(served.loop());
      out.printf(
          "%s engine (%s), %d prompts x up to %d tokens, %d generating at once, %d partitions,"
              + " emit every %d ms, %d-%d warm-up rounds, %d runs per mode (medians)%n",
          engine,
          served.engine().backend(),
          prompts,
          maxNewTokens,
          concurrency,
          partitions,
          emitIntervalMs,
          warmup,
          maxWarmup,
          repeats);
      out.flush();
      List<Phase> phases = new ArrayList<>();
      for (String guarantee : guarantees) {
        for (TokenEventForm form : tokenEvents) {
          phases.add(measure(out, kafka, client, served, new Mode(guarantee, form), data));
        }
      }
      List<Run> alone = phases.stream().flatMap(phase -> phase.alone().stream()).toList();
      double base = median(alone.stream().mapToDouble(Run::tokensPerSecond).toArray());
      out.println();
      out.println(
          "mode                    tokens/s  vs engine  paired            steady tokens/s"
              + "  paired            latency p50 ms  p99 ms  first token p50 ms  p99 ms  tokens"
              + "  service CPU us/token  broker CPU us/token  JIT us/token");
      out.printf(
          "engine alone            %8.0f  %8.2f  %-16s  %15.0f  %-16s   %14s  %6s  %18s  %6s  %6d"
              + "  %20.0f  %19.0f  %12.0f%n",
          base,
          1.0,
          "",
          median(alone.stream().mapToDouble(Run::steadyTokensPerSecond).toArray()),
          "",
          "-",
          "-",
          "-",
          "-",
          alone.get(0).tokens(),
          cpuPerToken(alone, run -> run.cpu().service()),
          cpuPerToken(alone, run -> run.cpu().broker()),
          cpuPerToken(alone, run -> run.cpu().compile()));
      for (Phase phase : phases) {
        report(out, phase);
      }
      out.println();
      out.println(
          "first token of a lone request, ms   engine alone p50  p99  through Kafka p50  p99"
              + "  added by Kafka p50  p99");
      for (Phase phase : phases) {
        firstTokens(out, phase);
      }
      out.println();
      out.println(
          "CPU us/token by thread group   streams threads  loop and engine  producer I/O"
              + "  publisher, reader, registry  JVM (GC, JIT)  broker  tokens topic bytes/token");
      threadGroups(out, "engine alone", alone);
      for (Phase phase : phases) {
        threadGroups(out, phase.mode().label(), phase.throughKafka());
      }
      out.flush();
    }
    return 0;
  }

  /**
   * One guarantee's phase: its pipeline (topics, Kafka Streams, reader) runs through every round,
   * as a service does, each round publishing a fresh batch of prompts into it, and each round
   * follows an engine-alone round on the same prompts. Only this guarantee's pipeline exists
   * meanwhile: an idle second Kafka Streams instance still runs its poll loop (~30 ms of CPU a
   * second here), which would be charged to the pipeline under test.
   */
  private Phase measure(
      PrintWriter out,
      LocalKafkaCluster kafka,
      SchemaRegistryClient client,
      ServedModel served,
      Mode mode,
      Path data)
      throws Exception {
    List<Run> alone = new ArrayList<>();
    List<Run> runs = new ArrayList<>();
    String label = mode.label();
    try (Pipeline pipeline = pipeline(kafka, client, served, mode, data)) {
      // Warm-up, not measured: JIT-compiles the engine's and the Kafka clients' paths (the broker
      // runs C1 code only) until the compilers no longer take CPU from the runs, as in a service
      // that has been up for a while.
      int quiet = 0;
      int w = 0;
      for (; w < maxWarmup && (w < warmup || quiet < QUIET_ROUNDS); w++) {
        Run engine = engineAlone(kafka, served);
        Run kafkaRound = throughKafka(kafka, pipeline, "warmup" + w);
        boolean compiling =
            engine.compileMicrosPerToken() >= QUIET_JIT_US
                || kafkaRound.compileMicrosPerToken() >= QUIET_JIT_US;
        quiet = compiling ? 0 : quiet + 1;
        out.printf(
            "%s warm-up %d: engine alone %s, through Kafka %s%n",
            label, w + 1, engine.summary(), kafkaRound.summary());
        out.flush();
      }
      out.printf(
          quiet >= QUIET_ROUNDS
              ? "%s: warm-up done after %d rounds%n"
              : "%s: the JIT compilers were still busy after %d warm-up rounds (--max-warmup)%n",
          label,
          w);
      for (int r = 0; r < repeats; r++) {
        alone.add(engineAlone(kafka, served));
        runs.add(throughKafka(kafka, pipeline, "run" + r));
        out.printf(
            "%s run %d of %d: tokens/s (service + broker CPU us/token, JIT us/token): engine alone %s,"
                + " through Kafka %s%n",
            label, r + 1, repeats, alone.get(r).summary(), runs.get(r).summary());
        out.flush();
      }
      return new Phase(mode, alone, runs, firstTokenProbes(kafka, served, pipeline));
    }
  }

  /**
   * Time to first token of one request at a time (nothing queued, nothing else generating), engine
   * alone and through Kafka, alternated, {@link #probes} times: the time the pipeline adds to the
   * first token, apart from the queueing of the throughput rounds.
   */
  private FirstTokens firstTokenProbes(
      LocalKafkaCluster kafka, ServedModel served, Pipeline pipeline) throws InterruptedException {
    settle(kafka);
    long[] alone = new long[probes];
    long[] throughKafka = new long[probes];
    for (int i = 0; i < probes; i++) {
      alone[i] = engineFirstTokenMicros(served, i);
      throughKafka[i] = kafkaFirstTokenMicros(pipeline, "probe-" + i, i);
    }
    return new FirstTokens(alone, throughKafka);
  }

  /** Microseconds from submitting prompt {@code i} to the loop to its first token. */
  private long engineFirstTokenMicros(ServedModel served, int i) throws InterruptedException {
    Watch watch = new Watch(1);
    int[] ids = served.tokenizer().encode(TEXTS.get(i % TEXTS.size()), true);
    long start = System.nanoTime();
    served
        .loop()
        .submit(new GenerationRequest("probe-alone-" + i, ids, 0, sampling(i), true, null), watch);
    watch.first.await();
    long micros = (System.nanoTime() - start) / 1_000;
    watch.done.await();
    return micros;
  }

  /**
   * Microseconds from publishing prompt {@code i} to its first token at a read_committed consumer;
   * returns once the request completed and its every token arrived.
   */
  private long kafkaFirstTokenMicros(Pipeline pipeline, String requestId, int i) {
    long start = System.nanoTime();
    pipeline.publish(requestId, i, maxNewTokens);
    pipeline.producer().flush();
    long firstMicros = -1;
    long tokens = 0;
    long expected = Long.MAX_VALUE;
    while (tokens < expected) {
      if (System.nanoTime() - start > TimeUnit.MINUTES.toNanos(1)) {
        throw new IllegalStateException(requestId + " did not complete in a minute");
      }
      for (ConsumerRecord<String, SpecificRecord> record :
          pipeline.reader().poll(Duration.ofMillis(1))) {
        Received received = Received.of(record.value());
        if (received != null) {
          if (firstMicros < 0) {
            firstMicros = (System.nanoTime() - start) / 1_000;
          }
          tokens += received.count();
        } else if (record.value() instanceof Completion completion) {
          expected = completion.getTokenIds().size();
        }
      }
    }
    return firstMicros;
  }

  /** The service producer's settings this run changes from the deployment's. */
  private Map<String, Object> streamsOverrides() {
    Map<String, Object> overrides = new HashMap<>();
    if (compression != null) {
      overrides.put(
          StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), compression);
    }
    if (lingerMs != null) {
      overrides.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), lingerMs);
    }
    if (commitIntervalMs != null) {
      overrides.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitIntervalMs);
    }
    return overrides;
  }

  private Duration emitInterval() {
    return Duration.ofMillis(emitIntervalMs);
  }

  private Engine syntheticEngine() throws IOException {
    Integer eos = Tokenizer.load(model).eosId();
    return new SyntheticEngine(ModelConfig.load(model), eos == null ? -1 : eos);
  }

  private GenerationLoop.Settings loopSettings() {
    GenerationLoop.Settings defaults = GenerationLoop.Settings.defaults();
    return new GenerationLoop.Settings(
        concurrency, defaults.maxStepTokens(), defaults.mtpDrafting());
  }

  /**
   * One guarantee's measured runs: {@code throughKafka.get(i)} followed {@code alone.get(i)}, the
   * engine alone on the same prompts.
   */
  private record Phase(
      Mode mode, List<Run> alone, List<Run> throughKafka, FirstTokens firstTokens) {}

  /** A processing guarantee and a form of token events: what one phase measures. */
  private record Mode(String guarantee, TokenEventForm form) {
    String label() {
      return guarantee + (form == TokenEventForm.CHUNK ? " chunks" : " tokens");
    }
  }

  /** Microseconds to the first token of lone requests, {@code alone[i]} paired with Kafka's. */
  private record FirstTokens(long[] alone, long[] throughKafka) {
    /** Per probe, what Kafka added to the engine's own time, sorted. */
    long[] added() {
      long[] added = new long[alone.length];
      for (int i = 0; i < added.length; i++) {
        added[i] = throughKafka[i] - alone[i];
      }
      Arrays.sort(added);
      return added;
    }
  }

  /**
   * One guarantee's line. "vs engine" divides medians; "paired" is the median (and range) of each
   * run's ratio to the engine-alone run just before it, which cancels the machine's slower drifts;
   * the steady columns are the same over the runs' steady states ({@link Timeline}).
   */
  private void report(PrintWriter out, Phase phase) {
    List<Run> runs = phase.throughKafka();
    List<Run> alone = phase.alone();
    double tps = median(runs.stream().mapToDouble(Run::tokensPerSecond).toArray());
    double base = median(alone.stream().mapToDouble(Run::tokensPerSecond).toArray());
    double[] paired = new double[runs.size()];
    double[] steadyPaired = new double[runs.size()];
    for (int i = 0; i < paired.length; i++) {
      paired[i] = runs.get(i).tokensPerSecond() / alone.get(i).tokensPerSecond();
      steadyPaired[i] = runs.get(i).steadyTokensPerSecond() / alone.get(i).steadyTokensPerSecond();
    }
    long[] latencies =
        runs.stream().flatMapToLong(run -> Arrays.stream(run.latenciesMs())).sorted().toArray();
    long[] firstTokens =
        runs.stream().flatMapToLong(run -> Arrays.stream(run.firstTokenMs())).sorted().toArray();
    out.printf(
        "%-23s %8.0f  %8.2f  %-16s  %15.0f  %-16s   %14d  %6d  %18d  %6d  %6d  %20.0f  %19.0f"
            + "  %12.0f%n",
        phase.mode().label(),
        tps,
        tps / base,
        medianAndRange(paired),
        median(runs.stream().mapToDouble(Run::steadyTokensPerSecond).toArray()),
        medianAndRange(steadyPaired),
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
        percentile(firstTokens, 0.50),
        percentile(firstTokens, 0.99),
        runs.get(0).tokens(),
        cpuPerToken(runs, run -> run.cpu().service()),
        cpuPerToken(runs, run -> run.cpu().broker()),
        cpuPerToken(runs, run -> run.cpu().compile()));
  }

  private static String medianAndRange(double[] ratios) {
    return String.format(
        "%.2f (%.2f-%.2f)",
        median(ratios),
        Arrays.stream(ratios).min().orElse(0),
        Arrays.stream(ratios).max().orElse(0));
  }

  /** One line of the first-token table: percentiles over the lone requests, in milliseconds. */
  private static void firstTokens(PrintWriter out, Phase phase) {
    long[] alone = phase.firstTokens().alone().clone();
    long[] throughKafka = phase.firstTokens().throughKafka().clone();
    Arrays.sort(alone);
    Arrays.sort(throughKafka);
    long[] added = phase.firstTokens().added();
    out.printf(
        "%-36s %16.1f %4.1f %18.1f %4.1f %19.1f %4.1f%n",
        phase.mode().label(),
        percentile(alone, 0.5) / 1e3,
        percentile(alone, 0.99) / 1e3,
        percentile(throughKafka, 0.5) / 1e3,
        percentile(throughKafka, 0.99) / 1e3,
        percentile(added, 0.5) / 1e3,
        percentile(added, 0.99) / 1e3);
  }

  /** One line of the thread-group table: medians over runs, per generated token. */
  private static void threadGroups(PrintWriter out, String mode, List<Run> runs) {
    out.printf(
        "%-30s %16.1f  %15.1f  %12.1f  %27.1f  %13.1f  %6.1f  %24.1f%n",
        mode,
        cpuPerToken(runs, run -> run.cpu().threads().streams()),
        cpuPerToken(runs, run -> run.cpu().threads().loop()),
        cpuPerToken(runs, run -> run.cpu().threads().producerIo()),
        cpuPerToken(runs, run -> run.cpu().threads().other()),
        cpuPerToken(runs, run -> run.cpu().jvm()),
        cpuPerToken(runs, run -> run.cpu().broker()),
        median(
            runs.stream()
                .mapToDouble(run -> (double) run.tokenTopicBytes() / run.tokens())
                .toArray()));
  }

  private List<int[]> promptIds(ServedModel served) {
    List<int[]> ids = new ArrayList<>();
    for (int i = 0; i < prompts; i++) {
      ids.add(served.tokenizer().encode(TEXTS.get(i % TEXTS.size()), true));
    }
    return ids;
  }

  private io.latentstream.sampling.SamplingParams sampling(int i) {
    return new io.latentstream.sampling.SamplingParams(0.8, 0.95, 0, i, maxNewTokens, List.of());
  }

  /** Follows requests on the loop: counts their tokens, marks the first, counts them finished. */
  private static final class Watch implements GenerationListener {
    final AtomicLong tokens = new AtomicLong();
    final CountDownLatch first = new CountDownLatch(1);
    final CountDownLatch done;

    Watch(int requests) {
      done = new CountDownLatch(requests);
    }

    @Override
    public void onToken(TokenEmission token) {
      tokens.incrementAndGet();
      first.countDown();
    }

    @Override
    public void onFinished(GenerationOutcome outcome) {
      done.countDown();
    }
  }

  /**
   * The loop's output over a run, step by step: when it had emitted how many tokens. A run's steady
   * rate is its tokens/s from the moment a tenth of its tokens were out to the moment nine tenths
   * were: every slot busy, leaving out the run's start (under exactly-once the first tokens wait
   * for the prompts' claims and verdicts to commit) and its drain (the last requests generating
   * alone), which a service under continuous load does not go through. Both paths count the same
   * emissions at the same place, the loop, so the ratio of steady rates is what the Kafka path's
   * work on the same cores takes from the engine.
   */
  private static final class Timeline implements GenerationLoop.StepObserver {
    private final GenerationLoop loop;
    private long[] nanos = new long[4096];
    private long[] tokens = new long[4096];
    private int size;

    Timeline(GenerationLoop loop) {
      this.loop = loop;
      loop.observe(this);
    }

    /** Starts a run's timeline at the loop's count now. */
    synchronized void start() {
      size = 0;
      append();
    }

    @Override
    public synchronized void onStep(GenerationLoop.StepStats step) {
      append();
    }

    private void append() {
      if (size == nanos.length) {
        nanos = Arrays.copyOf(nanos, 2 * size);
        tokens = Arrays.copyOf(tokens, 2 * size);
      }
      nanos[size] = System.nanoTime();
      tokens[size] = loop.stats().generatedTokens();
      size++;
    }

    /** Tokens/s between the steps that took the run past 10% and 90% of its tokens. */
    synchronized double steadyTokensPerSecond() {
      long total = tokens[size - 1] - tokens[0];
      int from = firstStepReaching(tokens[0] + total / 10);
      int to = firstStepReaching(tokens[0] + total * 9 / 10);
      return to <= from
          ? Double.NaN
          : (tokens[to] - tokens[from]) * 1e9 / (nanos[to] - nanos[from]);
    }

    private int firstStepReaching(long count) {
      int i = 0;
      while (tokens[i] < count) {
        i++;
      }
      return i;
    }
  }

  /** The same requests on the loop directly: the ceiling the pipeline is measured against. */
  private Run engineAlone(LocalKafkaCluster kafka, ServedModel served) throws InterruptedException {
    Watch watch = new Watch(prompts);
    List<int[]> ids = promptIds(served);
    settle(kafka);
    Cpu before = Cpu.now(kafka);
    timeline.start();
    long start = System.nanoTime();
    for (int i = 0; i < prompts; i++) {
      served
          .loop()
          .submit(
              new GenerationRequest("alone-" + i, ids.get(i), 0, sampling(i), true, null), watch);
    }
    watch.done.await();
    double seconds = (System.nanoTime() - start) / 1e9;
    return new Run(
        watch.tokens.get(),
        seconds,
        timeline.steadyTokensPerSecond(),
        new long[0],
        new long[0],
        Cpu.now(kafka).since(before),
        0);
  }

  /**
   * The topology under one guarantee on its own topics, with a producer of prompts asking for
   * {@code form} (null: the deployment's) and a reader of tokens, chunks and completions.
   */
  private record Pipeline(
      Topics topics,
      TokenEventForm form,
      KafkaStreams streams,
      KafkaConsumer<String, SpecificRecord> reader,
      KafkaProducer<String, PromptRequest> producer)
      implements AutoCloseable {
    /**
     * Creates the topics under {@code name + "."}, starts Kafka Streams as application {@code
     * name}, and waits until it runs and the reader has joined its group.
     */
    static Pipeline start(
        String name,
        LocalKafkaCluster kafka,
        SchemaRegistryClient client,
        ServedModel served,
        String guarantee,
        TokenEventForm form,
        int partitions,
        Duration emitInterval,
        int producerLingerMs,
        Map<String, Object> streamsOverrides,
        Path data)
        throws Exception {
      Topics topics = Topics.create(name + ".", client);
      try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
        admin
            .createTopics(Topics.newTopics(topics.prefix(), partitions, (short) 1))
            .all()
            .get(30, TimeUnit.SECONDS);
      }
      StreamsBuilder builder = new StreamsBuilder();
      LatentstreamTopology.build(
          builder, topics, served, TopologySettings.defaults().withEmitInterval(emitInterval));
      Properties config =
          StreamsSettings.of(
              name, kafka.bootstrapServers(), guarantee, data.resolve("streams"), 1, emitInterval);
      config.putAll(streamsOverrides);
      Pipeline pipeline =
          new Pipeline(
              topics,
              form,
              new KafkaStreams(builder.build(), config),
              outputs(kafka, topics),
              new KafkaProducer<>(
                  Map.of(
                      "bootstrap.servers", kafka.bootstrapServers(), "linger.ms", producerLingerMs),
                  new StringSerializer(),
                  topics.prompts().valueSerde().serializer()));
      startAndAwaitRunning(pipeline.streams());
      pipeline.reader().poll(Duration.ofMillis(100)); // joins the group before the first token
      return pipeline;
    }

    /** Publishes the benchmark's prompt {@code i} as request {@code requestId}, in its form. */
    void publish(String requestId, int i, int maxNewTokens) {
      producer.send(
          new ProducerRecord<>(
              topics.prompts().name(),
              requestId,
              PromptRequest.newBuilder(prompt(requestId, i, maxNewTokens))
                  .setTokenEvents(form)
                  .build()));
    }

    /** The topic its token events go to. */
    String tokenTopic() {
      return form == TokenEventForm.CHUNK ? topics.tokenChunks().name() : topics.tokens().name();
    }

    @Override
    public void close() {
      streams.close(Duration.ofSeconds(30));
      reader.close();
      producer.close();
    }
  }

  /**
   * Consecutive tokens of a request as the reader received them: one token event, or a chunk.
   *
   * @param oldestProducedAtMs when the engine emitted the record's first token (a chunk's tokens
   *     are taken as that old: its latency is its oldest token's)
   */
  private record Received(String requestId, int firstIndex, int count, long oldestProducedAtMs) {
    /** The tokens in {@code value}, or null for a completion. */
    static Received of(SpecificRecord value) {
      if (value instanceof TokenEvent token) {
        return new Received(
            token.getRequestId(), token.getIndex(), 1, token.getProducedAt().toEpochMilli());
      }
      if (value instanceof TokenChunk chunk) {
        return new Received(
            chunk.getRequestId(),
            chunk.getFirstIndex(),
            chunk.getTokenIds().size(),
            chunk.getFirstProducedAt().toEpochMilli());
      }
      return null;
    }
  }

  /** The pipeline of the throughput benchmark in {@code mode}. */
  private Pipeline pipeline(
      LocalKafkaCluster kafka,
      SchemaRegistryClient client,
      ServedModel served,
      Mode mode,
      Path data)
      throws Exception {
    String name =
        "bench-" + mode.guarantee().replace('_', '-') + "-" + mode.form().name().toLowerCase();
    return Pipeline.start(
        name,
        kafka,
        client,
        served,
        mode.guarantee(),
        mode.form(),
        partitions,
        emitInterval(),
        0,
        streamsOverrides(),
        data);
  }

  /**
   * One round through a running pipeline: publishes the prompts (request ids unique to the round)
   * and reads until every completion and every token of the round has arrived.
   */
  private Run throughKafka(LocalKafkaCluster kafka, Pipeline pipeline, String round)
      throws InterruptedException {
    String prefix = round + "-r";
    long bytesBefore = topicBytes(kafka, pipeline.tokenTopic());
    settle(kafka);
    Cpu before = Cpu.now(kafka);
    timeline.start();
    long start = System.nanoTime();
    Map<String, Long> sentAtMs = new HashMap<>();
    for (int i = 0; i < prompts; i++) {
      sentAtMs.put(prefix + i, System.currentTimeMillis());
      pipeline.publish(prefix + i, i, maxNewTokens);
    }
    pipeline.producer().flush();
    List<Long> firstTokens = new ArrayList<>();
    long tokens = 0;
    long expectedTokens = 0;
    int completed = 0;
    List<Long> latencies = new ArrayList<>();
    // A completion may arrive before its last token events (other partitions, same transaction).
    while (completed < prompts || tokens < expectedTokens) {
      if (System.nanoTime() - start > TimeUnit.MINUTES.toNanos(5)) {
        throw new IllegalStateException(
            "only " + completed + " of " + prompts + " prompts completed");
      }
      for (ConsumerRecord<String, SpecificRecord> record :
          pipeline.reader().poll(Duration.ofMillis(20))) {
        long receivedMs = System.currentTimeMillis();
        if (!record.key().startsWith(prefix)) {
          throw new IllegalStateException("an event of another round: " + record.key());
        }
        Received received = Received.of(record.value());
        if (received != null) {
          tokens += received.count();
          for (int t = 0; t < received.count(); t++) {
            latencies.add(receivedMs - received.oldestProducedAtMs());
          }
          if (received.firstIndex() == 0) {
            firstTokens.add(receivedMs - sentAtMs.get(received.requestId()));
          }
        } else if (record.value() instanceof Completion completion) {
          completed++;
          expectedTokens += completion.getTokenIds().size();
        }
      }
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    Cpu cpu = Cpu.now(kafka).since(before);
    return new Run(
        tokens,
        seconds,
        timeline.steadyTokensPerSecond(),
        latencies.stream().mapToLong(Long::longValue).toArray(),
        firstTokens.stream().mapToLong(Long::longValue).toArray(),
        cpu,
        topicBytes(kafka, pipeline.tokenTopic()) - bytesBefore);
  }

  /**
   * Bytes the broker holds of {@code topic} over all its partitions: the log as written, batches
   * (compressed or not) and transaction markers included.
   */
  private static long topicBytes(LocalKafkaCluster kafka, String topic) {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      List<Integer> brokers =
          admin.describeCluster().nodes().get(30, TimeUnit.SECONDS).stream()
              .map(org.apache.kafka.common.Node::id)
              .toList();
      return admin
          .describeLogDirs(brokers)
          .allDescriptions()
          .get(30, TimeUnit.SECONDS)
          .values()
          .stream()
          .flatMap(dirs -> dirs.values().stream())
          .flatMap(dir -> dir.replicaInfos().entrySet().stream())
          .filter(replica -> replica.getKey().topic().equals(topic))
          .mapToLong(replica -> replica.getValue().size())
          .sum();
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      throw new IllegalStateException("cannot read the size of " + topic, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted reading the size of " + topic, e);
    }
  }

  /**
   * The load test: {@code sessions} sessions of {@code turns} turns, all published at once (each
   * session's turns queue behind each other in the service). Checks that nothing is dropped or
   * repeated (every request's token indices 0..n-1 exactly once, one completion each) and reports
   * throughput and the JVM's peak heap use (this process hosts the service).
   */
  private int sessionsLoad(
      PrintWriter out,
      LocalKafkaCluster kafka,
      SchemaRegistryClient client,
      ServedModel served,
      Path data)
      throws Exception {
    int requests = sessions * turns;
    java.lang.management.MemoryMXBean memory =
        java.lang.management.ManagementFactory.getMemoryMXBean();
    AtomicLong peakHeap = new AtomicLong();
    Thread sampler =
        new Thread(
            () -> {
              while (!Thread.currentThread().isInterrupted()) {
                peakHeap.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
                try {
                  Thread.sleep(50);
                } catch (InterruptedException e) {
                  return;
                }
              }
            },
            "heap-sampler");
    sampler.setDaemon(true);
    try (Pipeline pipeline =
        Pipeline.start(
            "bench-sessions-" + sessions,
            kafka,
            client,
            served,
            StreamsConfig.EXACTLY_ONCE_V2,
            null,
            partitions,
            emitInterval(),
            5,
            streamsOverrides(),
            data)) {
      Topics topics = pipeline.topics();
      KafkaConsumer<String, SpecificRecord> consumer = pipeline.reader();
      KafkaProducer<String, PromptRequest> producer = pipeline.producer();
      sampler.start();
      long start = System.nanoTime();
      for (int t = 0; t < turns; t++) {
        for (int s = 0; s < sessions; s++) {
          String session = "session-" + s;
          PromptRequest prompt =
              PromptRequest.newBuilder(prompt(session + "-turn-" + t, s * turns + t, maxNewTokens))
                  .setSessionId(session)
                  .setInput(
                      TextInput.newBuilder()
                          .setText((t == 0 ? "" : " ") + TEXTS.get((s + t) % TEXTS.size()))
                          .build())
                  .build();
          producer.send(new ProducerRecord<>(topics.prompts().name(), session, prompt));
        }
      }
      producer.flush();
      Map<String, Integer> nextIndex = new java.util.HashMap<>();
      Map<String, Integer> completed = new java.util.HashMap<>();
      long tokens = 0;
      // A completion may arrive before the last token events (other partitions, same transaction).
      while (completed.size() < requests
          || completed.entrySet().stream()
              .anyMatch(c -> !c.getValue().equals(nextIndex.get(c.getKey())))) {
        if (System.nanoTime() - start > TimeUnit.MINUTES.toNanos(20)) {
          throw new IllegalStateException(
              "only " + completed.size() + " of " + requests + " turns completed");
        }
        for (ConsumerRecord<String, SpecificRecord> record : consumer.poll(Duration.ofMillis(20))) {
          if (record.value() instanceof TokenEvent token) {
            int expected = nextIndex.getOrDefault(token.getRequestId(), 0);
            if (token.getIndex() != expected) {
              throw new IllegalStateException(
                  token.getRequestId() + ": token " + token.getIndex() + " after " + expected);
            }
            nextIndex.put(token.getRequestId(), expected + 1);
            tokens++;
          } else if (record.value() instanceof Completion completion) {
            if (completed.put(completion.getRequestId(), completion.getTokenIds().size()) != null) {
              throw new IllegalStateException("two completions of " + completion.getRequestId());
            }
          }
        }
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      sampler.interrupt();
      out.printf(
          "%d sessions x %d turns (%d requests, all published at once), up to %d tokens each,"
              + " %d partitions, exactly_once_v2%n",
          sessions, turns, requests, maxNewTokens, partitions);
      out.printf(
          "completed %d of %d, %d tokens (indices 0..n-1 exactly once), %.1f s, %.0f tokens/s,"
              + " peak heap %d MiB (max %d MiB)%n",
          completed.size(),
          requests,
          tokens,
          seconds,
          tokens / seconds,
          peakHeap.get() >> 20,
          memory.getHeapMemoryUsage().getMax() >> 20);
      out.flush();
      return 0;
    }
  }

  /**
   * The benchmarks' prompt {@code i}: one of a few Brown-corpus openings, sampled (temperature 0.8,
   * top-p 0.95) with seed i, so every configuration generates the same tokens.
   */
  public static PromptRequest prompt(String requestId, int i, int maxNewTokens) {
    return PromptRequest.newBuilder()
        .setRequestId(requestId)
        .setTenant("bench")
        .setInput(TextInput.newBuilder().setText(TEXTS.get(i % TEXTS.size())).build())
        .setSampling(
            SamplingParams.newBuilder()
                .setTemperature(0.8)
                .setTopP(0.95)
                .setSeed((long) i)
                .setMaxNewTokens(maxNewTokens)
                .build())
        .setCreatedAt(Instant.now())
        .build();
  }

  private static void startAndAwaitRunning(KafkaStreams streams) throws InterruptedException {
    streams.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (streams.state() != KafkaStreams.State.RUNNING) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("Kafka Streams did not start: " + streams.state());
      }
      Thread.sleep(50);
    }
  }

  private static KafkaConsumer<String, SpecificRecord> outputs(
      LocalKafkaCluster kafka, Topics topics) {
    Deserializer<TokenEvent> tokens = topics.tokens().valueSerde().deserializer();
    Deserializer<TokenChunk> chunks = topics.tokenChunks().valueSerde().deserializer();
    Deserializer<Completion> completions = topics.completions().valueSerde().deserializer();
    KafkaConsumer<String, SpecificRecord> consumer =
        new KafkaConsumer<>(
            Map.of(
                "bootstrap.servers",
                kafka.bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG,
                topics.prefix() + "reader",
                ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed",
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                "earliest"),
            new StringDeserializer(),
            (topic, bytes) ->
                topic.equals(topics.tokens().name())
                    ? tokens.deserialize(topic, bytes)
                    : topic.equals(topics.tokenChunks().name())
                        ? chunks.deserialize(topic, bytes)
                        : completions.deserialize(topic, bytes));
    consumer.subscribe(
        List.of(topics.tokens().name(), topics.tokenChunks().name(), topics.completions().name()));
    return consumer;
  }

  /** Median over runs of a CPU figure per generated token, in microseconds. */
  private static double cpuPerToken(List<Run> runs, java.util.function.ToDoubleFunction<Run> cpu) {
    return median(
        runs.stream().mapToDouble(run -> cpu.applyAsDouble(run) * 1e6 / run.tokens()).toArray());
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }

  private static long percentile(long[] sorted, double q) {
    return sorted.length == 0 ? 0 : sorted[Math.min(sorted.length - 1, (int) (q * sorted.length))];
  }
}
