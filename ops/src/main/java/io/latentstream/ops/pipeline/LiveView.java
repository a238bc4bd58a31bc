package io.latentstream.ops.pipeline;

import io.latentstream.schemas.TokenChunk;
import io.latentstream.schemas.TokenEvent;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Renders concurrent generations readably. On a terminal, one line per request is redrawn as its
 * tokens arrive (the end of its text, to fit the width); elsewhere (a log, a pipe) each request is
 * printed once, whole, when its last token arrives.
 */
public final class LiveView {
  private static final int WIDTH = 100;
  private final PrintWriter out;
  private final boolean terminal;
  private final Map<String, StringBuilder> texts = new LinkedHashMap<>();
  private int drawnLines;

  public LiveView(PrintWriter out, boolean terminal) {
    this.out = out;
    this.terminal = terminal;
  }

  /** Takes one token event; returns true when it was the request's last. */
  public boolean accept(TokenEvent event) {
    return accept(event.getRequestId(), event.getTextDelta(), event.getFinishReason() != null);
  }

  /** Takes one chunk of tokens; returns true when it was the request's last. */
  public boolean accept(TokenChunk chunk) {
    return accept(chunk.getRequestId(), chunk.getTextDelta(), chunk.getFinishReason() != null);
  }

  private boolean accept(String requestId, String textDelta, boolean last) {
    StringBuilder text = texts.computeIfAbsent(requestId, id -> new StringBuilder());
    text.append(textDelta);
    if (terminal) {
      redraw();
    } else if (last) {
      out.println(line(requestId, text.toString(), Integer.MAX_VALUE));
      out.flush();
    }
    if (last && !terminal) {
      texts.remove(requestId);
    }
    return last;
  }

  private void redraw() {
    if (drawnLines > 0) {
      out.print("\033[" + drawnLines + "F"); // back to the first line drawn
    }
    for (Map.Entry<String, StringBuilder> entry : texts.entrySet()) {
      out.print("\033[2K");
      out.println(line(entry.getKey(), entry.getValue().toString(), WIDTH));
    }
    drawnLines = texts.size();
    out.flush();
  }

  private static String line(String requestId, String text, int width) {
    String flat = text.replace('\n', ' ');
    if (flat.length() > width) {
      flat = "…" + flat.substring(flat.length() - width + 1);
    }
    return String.format("%-14s│ %s", requestId, flat);
  }
}
