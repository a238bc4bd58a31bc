package io.latentstream.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Headless Chromium (the Debian package's {@code /usr/bin/chromium}) driven over the Chrome
 * DevTools Protocol with the JDK's WebSocket client: navigate, evaluate JavaScript, take
 * screenshots. No driver binary or browser-automation library is needed.
 */
public final class HeadlessChromium implements AutoCloseable {
  public static final Path BINARY =
      Path.of(System.getProperty("latentstream.chromium", "/usr/bin/chromium"));
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Process process;
  private final Path profile;
  private final WebSocket socket;
  private final AtomicInteger ids = new AtomicInteger();
  private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();

  private HeadlessChromium(Process process, Path profile, WebSocket socket) {
    this.process = process;
    this.profile = profile;
    this.socket = socket;
  }

  public static boolean available() {
    return Files.isExecutable(BINARY);
  }

  /** Starts a browser with a fresh profile and attaches to its page. */
  public static HeadlessChromium start(int width, int height) throws Exception {
    Path profile = Files.createTempDirectory("chromium");
    Process process =
        new ProcessBuilder(
                BINARY.toString(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--remote-allow-origins=*",
                "--remote-debugging-port=0",
                "--user-data-dir=" + profile,
                "--window-size=" + width + "," + height,
                "about:blank")
            .redirectErrorStream(true)
            .redirectOutput(profile.resolve("chromium.log").toFile())
            .start();
    try {
      Path portFile = profile.resolve("DevToolsActivePort");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (!Files.exists(portFile) || Files.readAllLines(portFile).size() < 2) {
        if (!process.isAlive() || System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "chromium did not start: " + Files.readString(profile.resolve("chromium.log")));
        }
        Thread.sleep(50);
      }
      int port = Integer.parseInt(Files.readAllLines(portFile).get(0).trim());
      HttpClient http = HttpClient.newHttpClient();
      String pageUrl = null;
      while (pageUrl == null) {
        JsonNode targets =
            JSON.readTree(
                http.send(
                        HttpRequest.newBuilder(
                                URI.create("http://127.0.0.1:" + port + "/json/list"))
                            .build(),
                        HttpResponse.BodyHandlers.ofString())
                    .body());
        for (JsonNode target : targets) {
          if ("page".equals(target.path("type").asText())) {
            pageUrl = target.get("webSocketDebuggerUrl").asText();
          }
        }
        if (pageUrl == null) {
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("chromium has no page to attach to");
          }
          Thread.sleep(50);
        }
      }
      Listener listener = new Listener();
      WebSocket socket =
          http.newWebSocketBuilder()
              .buildAsync(URI.create(pageUrl), listener)
              .get(30, TimeUnit.SECONDS);
      HeadlessChromium browser = new HeadlessChromium(process, profile, socket);
      listener.browser = browser;
      browser.call("Page.enable", Map.of());
      browser.call("Runtime.enable", Map.of());
      return browser;
    } catch (Exception e) {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
      throw e;
    }
  }

  /** Collects (possibly fragmented) protocol messages and completes the matching calls. */
  private static final class Listener implements WebSocket.Listener {
    volatile HeadlessChromium browser;
    private final StringBuilder partial = new StringBuilder();

    @Override
    public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        String message = partial.toString();
        partial.setLength(0);
        try {
          JsonNode node = JSON.readTree(message);
          if (node.has("id") && browser != null) {
            CompletableFuture<JsonNode> call = browser.pending.remove(node.get("id").asInt());
            if (call != null) {
              call.complete(node);
            }
          }
        } catch (IOException e) {
          // not a protocol message: ignored
        }
      }
      webSocket.request(1);
      return null;
    }
  }

  /** Calls a DevTools method and returns its result (throws on a protocol error). */
  public JsonNode call(String method, Map<String, ?> params) throws Exception {
    int id = ids.incrementAndGet();
    CompletableFuture<JsonNode> response = new CompletableFuture<>();
    pending.put(id, response);
    ObjectNode message = JSON.createObjectNode();
    message.put("id", id);
    message.put("method", method);
    message.set("params", JSON.valueToTree(params));
    socket.sendText(JSON.writeValueAsString(message), true).get(30, TimeUnit.SECONDS);
    JsonNode node = response.get(60, TimeUnit.SECONDS);
    if (node.has("error")) {
      throw new IllegalStateException(method + " failed: " + node.get("error"));
    }
    return node.get("result");
  }

  public void navigate(String url) throws Exception {
    call("Page.navigate", Map.of("url", url));
  }

  /** The value of a JavaScript expression (promises awaited), as JSON. */
  public JsonNode evaluate(String expression) throws Exception {
    JsonNode result =
        call(
            "Runtime.evaluate",
            Map.of("expression", expression, "returnByValue", true, "awaitPromise", true));
    if (result.has("exceptionDetails")) {
      throw new IllegalStateException(
          "JavaScript failed: " + expression + ": " + result.get("exceptionDetails"));
    }
    return result.path("result").path("value");
  }

  /** Evaluates {@code condition} until it is true. */
  public void await(String condition, long timeoutMs) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    while (!evaluate("Boolean(" + condition + ")").asBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the page never satisfied: " + condition);
      }
      Thread.sleep(50);
    }
  }

  /** A PNG of the whole page. */
  public byte[] screenshot() throws Exception {
    JsonNode result =
        call("Page.captureScreenshot", Map.of("format", "png", "captureBeyondViewport", true));
    return Base64.getDecoder().decode(result.get("data").asText());
  }

  @Override
  public void close() throws Exception {
    try {
      socket.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS);
    } catch (Exception e) {
      // the browser is killed below anyway
    }
    List<ProcessHandle> children = process.descendants().toList();
    process.destroy();
    if (!process.waitFor(5, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
    children.forEach(ProcessHandle::destroyForcibly);
    try (var files = Files.walk(profile)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }
}
