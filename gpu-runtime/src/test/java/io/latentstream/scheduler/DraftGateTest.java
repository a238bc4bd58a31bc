package io.latentstream.scheduler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The draft gate's break-even confidence from the step times it is shown. */
class DraftGateTest {
  @Test
  void startsAtTheUsualBreakEvenUntilBothKindsOfStepAreTimed() {
    DraftGate gate = new DraftGate();
    assertEquals(DraftGate.INITIAL, gate.minConfidence());
    gate.observe(false, 1000);
    assertEquals(DraftGate.INITIAL, gate.minConfidence());
  }

  /** A verify step costing 1.5 decode steps needs drafts accepted half of the time. */
  @Test
  void asksForTheExtraCostOfAVerifyStepOverADecodeStep() {
    DraftGate gate = new DraftGate();
    gate.observe(false, 1000);
    gate.observe(true, 1500);
    assertEquals(0.5f, gate.minConfidence(), 1e-6);
  }

  @Test
  void staysAtTheFloorWhenVerifyingCostsNoMoreThanDecodingAndBelowOne() {
    DraftGate gate = new DraftGate();
    gate.observe(false, 1000);
    gate.observe(true, 900);
    assertEquals(DraftGate.FLOOR, gate.minConfidence());
    DraftGate slow = new DraftGate();
    slow.observe(false, 1000);
    slow.observe(true, 2500);
    assertEquals(1f, slow.minConfidence());
  }

  /** Moving averages: one slow step among many moves the gate by a 32nd of the difference. */
  @Test
  void followsTheStepCostsAsMovingAverages() {
    DraftGate gate = new DraftGate();
    for (int i = 0; i < 100; i++) {
      gate.observe(false, 1000);
      gate.observe(true, 1400);
    }
    assertEquals(0.4f, gate.minConfidence(), 1e-6);
    gate.observe(true, 1400 + 32 * 100);
    assertEquals(0.5f, gate.minConfidence(), 1e-6);
  }

  @Test
  void aPinnedConfidenceIgnoresTheStepCosts() {
    DraftGate gate = new DraftGate();
    gate.pin(0f);
    gate.observe(false, 1000);
    gate.observe(true, 3000);
    assertEquals(0f, gate.minConfidence());
  }
}
