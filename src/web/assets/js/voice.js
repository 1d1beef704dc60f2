// The voice recorder: the microphone (getUserMedia), taken block by block, brought down to
// 16 kHz and, when the resident keeps the disguise on (the default), disguised as it comes
// (js/voice-dsp.js): the undisguised voice is never kept, only the block being worked on.
// At most five minutes; the page counts down.

import { Resampler, Vocoder, WAV_RATE, encodeWav, toPcm16 } from './voice-dsp.js';
import { MAX_VOICE_SECONDS } from './blob.js';

/** Whether this browser can record here. */
export function canRecord() {
  const AC = window.AudioContext || window.webkitAudioContext;
  return !!(AC && navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === 'function');
}

/**
 * Starts recording. `onTick(seconds)` is told how long it has run, about every 0.25 s;
 * `onLimit()` when the five minutes are up (the recording has stopped by then).
 * Resolves a recorder with `stop()`, which resolves `{ wav, seconds, disguised }`.
 */
export async function startRecording({ disguised, onTick, onLimit }) {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    video: false,
  });
  const AC = window.AudioContext || window.webkitAudioContext;
  const context = new AC();
  if (context.state === 'suspended') await context.resume();
  const source = context.createMediaStreamSource(stream);
  // ScriptProcessorNode is old but everywhere (an AudioWorklet would need a module file of
  // its own, and old phones lack it); its blocks are small and the work per block is light.
  const node = context.createScriptProcessor(4096, 1, 1);
  const silent = context.createGain();
  silent.gain.value = 0; // the processor must reach the speakers to run, silently
  const resampler = new Resampler(context.sampleRate, WAV_RATE);
  const vocoder = disguised ? new Vocoder(WAV_RATE) : null;
  const limit = MAX_VOICE_SECONDS * WAV_RATE;
  const parts = [];
  let count = 0;
  let stopped = false;
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  let lastTick = -1;

  function end() {
    if (stopped) return;
    stopped = true;
    node.onaudioprocess = null;
    try {
      source.disconnect();
      node.disconnect();
      silent.disconnect();
    } catch (e) {
      // already disconnected
    }
    stream.getTracks().forEach((t) => t.stop());
    context.close().catch(() => {});
    finish();
  }

  node.onaudioprocess = (event) => {
    if (stopped) return;
    const input = event.inputBuffer.getChannelData(0);
    let block = resampler.process(input);
    if (vocoder) block = vocoder.process(block);
    if (count + block.length > limit) block = block.subarray(0, limit - count);
    parts.push(toPcm16(block));
    block.fill(0);
    count += block.length;
    const seconds = count / WAV_RATE;
    if (onTick && Math.floor(seconds * 4) !== lastTick) {
      lastTick = Math.floor(seconds * 4);
      onTick(seconds);
    }
    if (count >= limit) {
      end();
      if (onLimit) onLimit();
    }
  };
  source.connect(node);
  node.connect(silent);
  silent.connect(context.destination);

  return {
    async stop() {
      end();
      await finished;
      const wav = encodeWav(parts);
      for (const p of parts) p.fill(0);
      parts.length = 0;
      return { wav, seconds: Math.round((count / WAV_RATE) * 100) / 100, disguised: !!vocoder };
    },
    cancel() {
      end();
      for (const p of parts) p.fill(0);
      parts.length = 0;
    },
  };
}
