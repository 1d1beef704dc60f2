// Sound for voice notes: resampling to 16 kHz, the voice disguise, and the WAV file. Pure
// functions and small stateful filters over Float32Array, so node tests run them as they are.
//
// Why a channel vocoder with a synthetic carrier, and not a pitch shift: a pitch or formant
// shift is a transposition, and a listener (or anyone with an audio editor) can transpose it
// back, recovering the voice. A vocoder keeps only how loud the speech is in each of 16
// frequency bands, about 60 times a second, and makes new sound from that: a buzz at a fixed,
// made-up pitch (with a slow glide that has nothing to do with the speaker) and, in the high
// bands, noise. The speaker's own pitch, its melody, the breathiness and roughness of the
// voice and the fine structure of the spectrum are thrown away, not hidden, so there is
// nothing to undo. The bands are also re-synthesised 18% higher than they were analysed,
// which moves the formants (the size of the speaker's throat and mouth). Words stay clear:
// 16-band vocoded speech is well understood by listeners (Shannon et al., Science 1995,
// found 4 bands enough for sentences in quiet).

export const WAV_RATE = 16000;

// RBJ audio-EQ-cookbook biquads, direct form I, coefficients normalised by a0.
function bandpass(freq, q, rate) {
  const w = (2 * Math.PI * freq) / rate;
  const alpha = Math.sin(w) / (2 * q);
  const a0 = 1 + alpha;
  return { b0: alpha / a0, b1: 0, b2: -alpha / a0, a1: (-2 * Math.cos(w)) / a0, a2: (1 - alpha) / a0 };
}

function lowpass(freq, q, rate) {
  const w = (2 * Math.PI * freq) / rate;
  const alpha = Math.sin(w) / (2 * q);
  const c = Math.cos(w);
  const a0 = 1 + alpha;
  return {
    b0: (1 - c) / 2 / a0,
    b1: (1 - c) / a0,
    b2: (1 - c) / 2 / a0,
    a1: (-2 * c) / a0,
    a2: (1 - alpha) / a0,
  };
}

class Biquad {
  constructor(k) {
    this.k = k;
    this.x1 = this.x2 = this.y1 = this.y2 = 0;
  }
  step(x) {
    const k = this.k;
    const y = k.b0 * x + k.b1 * this.x1 + k.b2 * this.x2 - k.a1 * this.y1 - k.a2 * this.y2;
    this.x2 = this.x1;
    this.x1 = x;
    this.y2 = this.y1;
    this.y1 = y;
    return y;
  }
}

/**
 * A streaming resampler to 16 kHz: an 8th-order low-pass below 7.2 kHz (so nothing above
 * the new Nyquist folds back), then linear interpolation. Feed it the microphone's blocks.
 */
export class Resampler {
  constructor(fromRate, toRate = WAV_RATE) {
    this.step = fromRate / toRate;
    this.pos = 0; // position of the next output sample, in input samples from `prev`
    this.prev = 0;
    const cut = Math.min(0.45 * toRate, 0.45 * fromRate);
    // Butterworth, 8th order: four sections with these Qs.
    this.filters = [0.5098, 0.6013, 0.9000, 2.5629].map((q) => new Biquad(lowpass(cut, q, fromRate)));
    this.pass = fromRate === toRate;
  }
  process(input) {
    if (this.pass) return Float32Array.from(input);
    const out = [];
    for (let i = 0; i < input.length; i++) {
      let x = input[i];
      for (const f of this.filters) x = f.step(x);
      // Output samples that fall between prev (at -1) and x (at 0).
      while (this.pos <= 1) {
        out.push(this.prev + (x - this.prev) * this.pos);
        this.pos += this.step;
      }
      this.pos -= 1;
      this.prev = x;
    }
    return Float32Array.from(out);
  }
}

/** Resamples a whole recording. */
export function resample(input, fromRate, toRate = WAV_RATE) {
  return new Resampler(fromRate, toRate).process(input);
}

const BANDS = 16;
const LOW = 120;
const HIGH = 6800;
const FORMANT_SHIFT = 1.18;
const ENVELOPE_HZ = 30;

/**
 * The voice disguise, streaming: `process(block)` returns a block of the same length, so a
 * recording disguised in pieces is as long as the original, sample for sample.
 */
export class Vocoder {
  constructor(rate = WAV_RATE) {
    this.rate = rate;
    this.bands = [];
    const ratio = HIGH / LOW;
    for (let i = 0; i < BANDS; i++) {
      const lo = LOW * ratio ** (i / BANDS);
      const hi = LOW * ratio ** ((i + 1) / BANDS);
      const centre = Math.sqrt(lo * hi);
      const q = centre / (hi - lo);
      const out = Math.min(centre * FORMANT_SHIFT, 0.45 * rate);
      this.bands.push({
        a1: new Biquad(bandpass(centre, q, rate)),
        a2: new Biquad(bandpass(centre, q, rate)),
        s1: new Biquad(bandpass(out, q, rate)),
        env: 0,
        // High bands carry the hiss of s, f, sh: they get noise, the low ones the buzz.
        noise: Math.min(1, Math.max(0, (out - 2500) / 2500)),
        // Each band's envelope follower and the loss of its filters, made up for.
        gain: 2.2 * Math.sqrt(q),
      });
    }
    this.envCoef = Math.exp((-2 * Math.PI * ENVELOPE_HZ) / rate);
    this.phase = 0;
    this.t = 0;
    this.seed = 0x9e3779b9;
  }
  noise() {
    // xorshift32: the noise need not be secret, only unrelated to the voice.
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed / 2147483648 - 1;
  }
  process(input) {
    const out = new Float32Array(input.length);
    const rate = this.rate;
    for (let n = 0; n < input.length; n++) {
      // The carrier's pitch: 105 Hz gliding slowly by ±9%, on its own clock.
      const f0 = 105 * (1 + 0.09 * Math.sin((2 * Math.PI * 0.23 * this.t) / rate));
      this.t += 1;
      this.phase += f0 / rate;
      if (this.phase >= 1) this.phase -= 1;
      const buzz = 2 * this.phase - 1; // a sawtooth: rich in harmonics for every band
      const hiss = this.noise();
      const x = input[n];
      let y = 0;
      for (const b of this.bands) {
        const a = b.a2.step(b.a1.step(x));
        const level = Math.abs(a);
        b.env = level + this.envCoef * (b.env - level);
        const carrier = buzz * (1 - b.noise) + hiss * b.noise;
        y += b.s1.step(carrier) * b.env * b.gain;
      }
      // A soft limit instead of a normalisation over the whole note, which streaming cannot do.
      out[n] = Math.tanh(y * 1.5);
    }
    return out;
  }
}

/** Disguises a whole recording (16 kHz samples); the answer is as long as the input. */
export function disguise(samples, rate = WAV_RATE) {
  return new Vocoder(rate).process(samples);
}

/** Float samples in [-1, 1] as 16-bit signed little-endian PCM. */
export function toPcm16(samples) {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    out[i] = s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
  }
  return out;
}

/**
 * A WAV file (RIFF, PCM, mono, 16-bit) of 16-bit samples (Int16Array, or an array of them
 * in order): 44 bytes of header, then the samples, so `bytes = 44 + 2 × samples`.
 */
export function encodeWav(pcm, rate = WAV_RATE) {
  const parts = Array.isArray(pcm) ? pcm : [pcm];
  const count = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(44 + count * 2);
  const v = new DataView(out.buffer);
  const text = (at, s) => {
    for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  };
  text(0, 'RIFF');
  v.setUint32(4, 36 + count * 2, true);
  text(8, 'WAVE');
  text(12, 'fmt ');
  v.setUint32(16, 16, true); // fmt chunk size
  v.setUint16(20, 1, true); // PCM
  v.setUint16(22, 1, true); // mono
  v.setUint32(24, rate, true);
  v.setUint32(28, rate * 2, true); // bytes a second
  v.setUint16(32, 2, true); // bytes a frame
  v.setUint16(34, 16, true); // bits a sample
  text(36, 'data');
  v.setUint32(40, count * 2, true);
  let at = 44;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      v.setInt16(at, p[i], true);
      at += 2;
    }
  }
  return out;
}
