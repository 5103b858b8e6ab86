import { z } from 'zod';
import { feedbackSchema, suppressSchema } from './suppress.js';

/**
 * aemon's whole configuration: one zod schema gives both the TypeScript type and the validator.
 * Every object is strict (unknown keys are rejected, naming the key) and every field has a
 * default that works for the demo, so an empty file is a valid config.
 */
const positiveInt = z.number().int().positive();
const ms = z.number().int().nonnegative();

/** The layouts a record's bytes can have: one decoder each (src/sources/decoders/). */
export const READING_FORMATS = [
  'json',
  'telegraf-json',
  'influx',
  'narrow',
  'avro',
  'protobuf',
  'json-schema',
] as const;
/** The formats whose records are framed for a Schema Registry (magic byte 0, 4-byte schema id). */
export const REGISTRY_FORMATS = ['avro', 'protobuf', 'json-schema'] as const;
export type ReadingFormat = (typeof READING_FORMATS)[number];
export const TIME_UNITS = ['auto', 's', 'ms', 'us', 'ns', 'iso'] as const;
export type TimeUnit = (typeof TIME_UNITS)[number];

export const readingSchema = z
  .object({
    /**
     * How a record's bytes are laid out: `json` (one object with sensor, time and an object of
     * channels), `telegraf-json` (Telegraf's JSON serializer), `influx` (InfluxDB line protocol,
     * Telegraf's default Kafka output), `narrow` (one channel per message, joined by event time),
     * `avro`, `protobuf`, `json-schema` (the Confluent wire format: schemas from
     * `reading.schemaRegistry`; the decoded object is then read as `json` is).
     */
    format: z.enum(READING_FORMATS).default('json'),
    /**
     * A record larger than this (bytes) is rejected before it is parsed (`too_large`). Default
     * 256 KiB: a quarter of the broker's default `message.max.bytes` (1 MiB), so the dead-letter
     * record that carries it, with its headers and JSON escaping, still fits one Kafka message.
     */
    maxBytes: positiveInt.default(256 * 1024),
    /** Field (or dotted path) holding the sensor id; the Kafka key (or file name) is used without it. */
    sensorField: z.string().min(1).default('sensor'),
    /** Field (or dotted path) holding the event time: ISO-8601 string or epoch number in `timeUnit`. */
    timeField: z.string().min(1).default('ts'),
    /** Field (or dotted path) holding the object of channel → number (`json`). */
    valuesField: z.string().min(1).default('values'),
    /**
     * Unit of a numeric event time: `s`, `ms`, `us`, `ns`, `iso` (ISO-8601 strings only) or
     * `auto` (by magnitude). ISO-8601 strings are read in every unit but `iso` accepts nothing
     * else. Unset: `ms` for `json` and `narrow`, `s` for `telegraf-json`, `ns` for `influx`.
     */
    timeUnit: z.enum(TIME_UNITS).optional(),
    /**
     * Builds the sensor id from several fields, e.g. `{site}/{line}/{device}` (`json`, `narrow`)
     * or `{tags.site}/{tags.device}` (`influx`, `telegraf-json`: `name`, `tags.*`, `fields.*`).
     * Unset: the sensor field (`json`, `narrow`) or `name,k1=v1,…` with the tags in key order.
     */
    sensorTemplate: z.string().min(1).optional(),
    /**
     * The channels read; empty = every numeric channel. `json`, `influx`, `telegraf-json`:
     * other channels are left out of the reading. `narrow`: the channel set a joined reading
     * must have (required), a message of another channel is rejected (`unknown_channel`).
     */
    channels: z.array(z.string().min(1)).default([]),
    /** `json`: a message that is a JSON array holds several readings (each element one). */
    arrays: z.boolean().default(false),
    narrow: z
      .object({
        /** Field (or dotted path) naming the channel of a one-channel message. */
        channelField: z.string().min(1).default('channel'),
        /** Field (or dotted path) holding its value. */
        valueField: z.string().min(1).default('value'),
        /** Messages of one sensor at most this far apart (event time) join into one reading. */
        toleranceMs: ms.default(0),
        /**
         * A reading still missing a channel once the stream's event time has moved this far past
         * it is rejected (`incomplete`), every message of it dead-lettered.
         */
        waitMs: ms.default(10_000),
      })
      .strict()
      .default({}),
    /** A reading more than this far ahead of the clock is rejected (`future_timestamp`). */
    maxFutureMs: ms.default(5 * 60_000),
    /** Where `avro`, `protobuf` and `json-schema` records' schemas are looked up by id. */
    schemaRegistry: z
      .object({
        /** Base URL of a Confluent-compatible API, e.g. `http://registry:8081` (required by those formats). */
        url: z.string().url().optional(),
        /** HTTP basic auth (both or neither). */
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
        tls: z
          .object({
            /** PEM file of the CA that signed the registry's certificate; without it the system's CAs. */
            ca: z.string().min(1).optional(),
            rejectUnauthorized: z.boolean().default(true),
          })
          .strict()
          .default({}),
        /** One request's time limit. */
        timeoutMs: positiveInt.default(10_000),
        /**
         * While the registry cannot be reached (or answers 5xx, 401, 403) the records wait and the
         * request is retried, the delay doubling from 250 ms up to this.
         */
        maxBackoffMs: positiveInt.default(30_000),
      })
      .strict()
      .refine((r) => (r.username === undefined) === (r.password === undefined), {
        message: 'reading.schemaRegistry needs both username and password, or neither',
      })
      .default({}),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((REGISTRY_FORMATS as readonly string[]).includes(r.format) && r.schemaRegistry.url === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['schemaRegistry', 'url'],
        message: `reading.format ${r.format} needs reading.schemaRegistry.url: where its schemas are looked up`,
      });
    }
    if (r.format === 'narrow' && r.channels.length === 0) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['channels'],
        message: 'reading.format narrow needs reading.channels: the channels a joined reading must have',
      });
    }
  });

export const windowingSchema = z
  .object({
    /** Readings per window (time steps the autoencoder sees). */
    size: positiveInt.min(2).default(32),
    /** A window is scored every `stride` readings. */
    stride: positiveInt.default(1),
    /** A gap in event time longer than this restarts the sensor's window. */
    maxGapMs: ms.default(10 * 60_000),
    reorder: z
      .object({
        /** How long (event time) a reading may arrive behind the newest one and still be placed. */
        maxDelayMs: ms.default(2_000),
        /** Readings held per sensor while waiting for late ones; when full the oldest is released. */
        capacity: positiveInt.default(256),
      })
      .strict()
      .default({}),
  })
  .strict();

export const modelSchema = z
  .object({
    /**
     * The model registry: `aemon run` loads each group's current version from it (instead of
     * training on the bootstrap period) and promotes the models it trains into it.
     */
    dir: z.string().min(1).optional(),
    /** Versions kept per model group in the registry (the current one and the one before it always stay). */
    keep: positiveInt.default(5),
    /** TensorFlow.js backend: `auto` tries tensorflow (tfjs-node), then wasm, then cpu. */
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    /**
     * LSTM kernel: `fused` runs TensorFlow's BlockLSTM (tensorflow backend only), `simd` scores and
     * trains in WebAssembly SIMD (any backend; see simdTraining), `layers` tfjs-layers' LSTM; `auto` picks
     * fused on tensorflow, else simd, where it can.
     */
    kernel: z.enum(['auto', 'fused', 'simd', 'layers']).default('auto'),
    /**
     * The fused kernel scores with aemon's LSTM op where it is built (`npm run lstm-op`); false
     * keeps it on TensorFlow's BlockLSTM.
     */
    lstmOp: z.boolean().default(true),
    /**
     * Off the tensorflow backend the simd kernel trains too (forward and backward passes in
     * WebAssembly SIMD, tfjs' Adam); false keeps training on tfjs-layers, scoring on simd.
     * Dropout, GRU and variational models train on tfjs-layers either way.
     */
    simdTraining: z.boolean().default(true),
    /**
     * `lstm`: the recurrent autoencoder. `conv`: a convolutional one (Conv1D with stride 2 →
     * bottleneck → upsampling + Conv1D), its levels, kernel size and filters derived from
     * windowing.size and units; it trains and scores on the `layers` kernel, has no cell, depth,
     * dropout or variational option (refused), and takes noise, l1 and contractive.
     */
    architecture: z.enum(['lstm', 'conv']).default('lstm'),
    /**
     * Recurrent cell of the encoder and decoder: `gru` trains and scores on the `layers` kernel
     * (`auto` falls back to it; `fused` and `simd` run LSTMs only).
     */
    cell: z.enum(['lstm', 'gru']).default('lstm'),
    /** Denoising training: std (scaled units) of Gaussian noise on the inputs, the targets clean; 0 = off. */
    noise: z.number().min(0).default(0),
    /**
     * Sparse latent: training adds this × Σ|code| per window (Keras' L1 activity regulariser) on
     * the bottleneck, the last encoder's final state; scoring and thresholds stay reconstruction
     * error only. 0 = off.
     */
    l1: z.number().min(0).default(0),
    /**
     * Contractive autoencoder (Rifai et al. 2011): training adds this × ‖∂code/∂window‖²_F, the
     * squared Frobenius norm of the encoder's Jacobian at each window (averaged over the batch),
     * so the code changes little as a window moves off the training data. Estimated with one
     * random direction per window (Hutchinson): ‖J·v‖² with v ~ N(0, I), J·v from the code of the
     * window moved 10⁻² along v. Exact in expectation for the conv encoder (piecewise linear) away
     * from its ReLU kinks; a first-order finite difference for the LSTM encoder. Costs a second
     * encoder pass per step; scoring and thresholds stay reconstruction error only. 0 = off.
     */
    contractive: z.number().min(0).default(0),
    /**
     * LSTM-VAE: β, the weight of the KL term. The last encoder's state goes through Dense z_mean
     * and z_log_var; training decodes z = z_mean + exp(½·z_log_var)·ε and adds β × KL to the
     * reconstruction loss; scoring, validation and thresholds decode z_mean (deterministic).
     * Trains and scores on the `layers` kernel (`auto` falls back to it). 0 = off.
     */
    variational: z.number().min(0).default(0),
    /** LSTM units of the encoder (and decoder) layers. */
    units: positiveInt.default(16),
    /** Encoder (and decoder) LSTM layers. */
    depth: positiveInt.max(4).default(1),
    dropout: z.number().min(0).max(0.9).default(0),
    loss: z.enum(['mse', 'mae']).default('mse'),
    epochs: positiveInt.default(40),
    batchSize: positiveInt.default(64),
    learningRate: z.number().positive().default(0.005),
    /** Early stopping: epochs without validation improvement before training stops. */
    patience: positiveInt.default(4),
    /** Fraction of the training windows held out for validation and threshold calibration. */
    validationSplit: z.number().gt(0).lt(1).default(0.2),
    /** Seed for weight initialisation and shuffling: the same data gives the same model. */
    seed: z.number().int().default(42),
    /**
     * Operating-point augmentation: each training window is moved along its sensor's main
     * direction of variation (the first principal component of its scaled training readings) by
     * a shift within ±`levelShift` standard deviations along it (the shifts spread evenly over
     * that range), so the model learns the channels' relation at load levels the training data
     * did not reach. For plants whose
     * channels follow one wandering load; a channel leaving the others stays an anomaly. Held-out
     * windows are not moved. Groups of one channel are never moved (there the direction is the
     * level itself). 0 = off.
     */
    levelShift: z.number().min(0).max(10).default(3),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.architecture !== 'conv') return;
    const refuse = (path: string, what: string) =>
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [path],
        message: `model.${what} needs model.architecture "lstm"`,
      });
    if (m.cell !== 'lstm') refuse('cell', `cell "${m.cell}" (a recurrent cell)`);
    if (m.depth !== 1) refuse('depth', "depth > 1 (the conv model's depth follows from windowing.size)");
    if (m.variational > 0) refuse('variational', 'variational');
    if (m.dropout > 0) refuse('dropout', 'dropout');
    if (m.kernel === 'fused' || m.kernel === 'simd')
      refuse('kernel', `kernel "${m.kernel}" (an LSTM kernel; the conv model runs on "layers", or "auto")`);
  });

export const trainingSchema = z
  .object({
    /** Readings per sensor in the bootstrap period that the first model learns from as normal. */
    bootstrapReadings: positiveInt.default(240),
    /** Stride between training windows (1 = every window). */
    stride: positiveInt.default(1),
    /** Cap on training windows per model group (the most recent are kept). */
    maxWindows: positiveInt.default(4_000),
    /** Retrain every this much event time (ms) after the current model; 0 = never on a schedule. */
    intervalMs: ms.default(0),
    /** Retrain after this many new normal windows of a group; 0 = never by count. */
    afterWindows: z.number().int().nonnegative().default(0),
    /** Normal windows kept per sensor for retraining (the most recent). */
    bufferWindows: positiveInt.default(256),
    /** Windows labelled anomalous kept per model group, for the promotion gate. */
    anomalousWindows: positiveInt.default(256),
    /**
     * A window is taken as normal without a label when its score (× threshold) is below this, the
     * sensor is not in the anomaly state and was not near an anomaly (neighbourhoodMs). A large
     * value (1e9) leaves the anomaly state alone to decide: better after a drift or a lasting new
     * level under the dynamic decision, worse on a steady plant (docs/decisions.md#the-new-normal).
     */
    autoNormalBelow: z.number().positive().default(0.5),
    /** Event time around an anomaly (aemon's or labelled) whose windows are never taken as normal. */
    neighbourhoodMs: ms.default(60_000),
    /**
     * The new normal: a sensor whose windows have not been taken as normal for this long (event
     * time; anomalous, near an anomaly or above autoNormalBelow), steady, has them and its next
     * steady ones taken as normal,
     * so retraining can learn a lasting new level; a fault that keeps changing is not. 0 = never.
     */
    newNormalAfterMs: ms.default(0),
    /** Steady, for newNormalAfterMs: each channel's mean moved at most this many of its normal spreads over the span. */
    newNormalTolerance: z.number().positive().default(1),
    /** Normal windows a group needs before it retrains. */
    minWindows: positiveInt.default(64),
    /** Share of each sensor's normal windows (every k-th) held out for the promotion gate. */
    holdOut: z.number().gt(0).lt(1).default(0.2),
    /** Gate: how much higher (absolute) the challenger's false-alarm rate on held-out normal windows may be. */
    gateFalseAlarmTolerance: z.number().min(0).max(1).default(0.01),
    /** Gate: how much lower (absolute) its recall of labelled anomalous windows may be. */
    gateRecallTolerance: z.number().min(0).max(1).default(0.05),
  })
  .strict();

export const scoringSchema = z
  .object({
    /** Windows per model call at most. */
    batchSize: positiveInt.default(256),
    /** How long a window may wait for its micro-batch to fill (processing time). */
    maxWaitMs: ms.default(50),
    /**
     * Also encode each window: its bottleneck code, the code's 2-D projection (the training codes'
     * first two principal directions) and its latent distance (Mahalanobis distance to the
     * training codes, 1 = the held-out windows' `detection.quantile`), on the reading that ends
     * the window in score files and the scores topic. One more encoder pass per batch.
     */
    latent: z.boolean().default(false),
    /**
     * Weight w of the latent distance in a window's raw score: (error ÷ threshold + w × latent
     * distance) ÷ (1 + w), both 1 at their calibrated quantile. Encodes each window as
     * `scoring.latent` does (without writing it unless that is on). 0 = reconstruction error only.
     */
    latentWeight: z.number().nonnegative().finite().default(0),
  })
  .strict();

/** The decision layers `detection.decision` chooses among (src/detection/: one file each). */
export const DECISIONS = ['threshold', 'dynamic', 'pot', 'likelihood'] as const;
export type DecisionName = (typeof DECISIONS)[number];

/** Set only by configs written before `detection.decision`: see {@link resolveDecision}. */
const deprecatedEnabled = z.boolean().optional();

const detectionObject = z
  .object({
    /**
     * What a window is judged above threshold by, before the hysteresis: `threshold` (its score,
     * error ÷ the calibrated threshold, > 1), `dynamic` (telemanom's dynamic threshold on the
     * sensor's smoothed scores), `pot` (an extreme-value tail of the sensor's scores) or
     * `likelihood` (how unusual its recent scores are against its own history). Each one's
     * settings are in the section of that name. Unset: the older `<layer>.enabled` flags
     * decide, else `dynamic`.
     */
    decision: z.enum(DECISIONS).optional(),
    /** Threshold = this quantile of the held-out normal windows' errors … */
    quantile: z.number().gt(0).max(1).default(0.995),
    /** … times this margin. */
    margin: z.number().positive().default(4),
    /** Consecutive windows above threshold before an anomaly opens. */
    openAfter: positiveInt.default(3),
    /** Consecutive windows below `closeBelow` × threshold before it closes. */
    closeAfter: positiveInt.default(5),
    closeBelow: z.number().positive().max(1).default(0.8),
    /**
     * How a window's channel errors make its error: `mean` (every channel's error counts as it
     * is, so a channel that is hard to reconstruct outweighs a quiet one), `normalised` (the mean
     * of each channel's error ÷ its mean error on the calibration windows) or `max` (the largest
     * such ratio: one channel far off its usual error is enough). Fitted with the threshold, so a
     * change takes a new model. Anomaly events name channels by these ratios.
     */
    channelErrors: z.enum(['mean', 'normalised', 'max']).default('mean'),
    /** Channels named in an anomaly event, by share of the window error. */
    topChannels: positiveInt.default(3),
    /**
     * Severity bands on the score (the decision's, > 1 above the threshold): an anomaly is
     * `minor` above 1, `major` from `major`, `critical` from `critical`. Events, score records and
     * `aemon_anomaly_severity` (which the alert rules turn into their `severity` label) carry it.
     */
    severity: z
      .object({
        major: z.number().gt(1).default(2),
        critical: z.number().gt(1).default(4),
      })
      .strict()
      .refine((s) => s.major <= s.critical, {
        path: ['critical'],
        message: 'detection.severity.critical must not be below major',
      })
      .default({}),
    /**
     * Anomaly likelihood: decide on how unusual a sensor's recent scores are against its own score
     * history (Gaussian tail of the mean of the last `short` scores among the last `window` such
     * means) instead of on score > 1; the hysteresis above then runs on ln(tail) / ln(`epsilon`).
     * Settings of `decision: likelihood`.
     */
    likelihood: z
      .object({
        /** Deprecated: `decision: likelihood`. */
        enabled: deprecatedEnabled,
        /** Short means (one per window) in the history. */
        window: positiveInt.default(1000),
        /** Window scores averaged into one short mean. */
        short: positiveInt.default(10),
        /** Alarm when the tail probability is at most this. */
        epsilon: z.number().gt(0).lt(1).default(0.001),
        /** Short means a sensor needs before the likelihood decides (score > 1 decides until then). */
        warmup: positiveInt.default(100),
        /** Floor on the history's standard deviation (score units). */
        minStd: z.number().positive().default(0.01),
        /**
         * While a sensor's anomaly is open, its windows stay out of its history, for at most this
         * many windows of the anomaly (so a long fault is not learnt as the new normal); then the
         * history takes them again, and a lasting new level closes the anomaly. 0 = off.
         */
        holdOpen: z.number().int().nonnegative().default(0),
        /**
         * With `holdOpen`: an anomaly that closes before its hold runs out is learnt after all,
         * its held windows joining the history when it closes (short bursts are part of a
         * sensor's ordinary variability); only anomalies that outlast the hold stay out.
         */
        learnShort: z.boolean().default(false),
        /**
         * Alarm only where the window is also above its threshold: the hysteresis runs on the
         * smaller of the likelihood score and the window score (unusual for the sensor now *and*
         * unlike its training data).
         */
        andThreshold: z.boolean().default(false),
        /**
         * A window at least this many times its threshold alarms whatever the history says: the
         * hysteresis runs on the larger of the likelihood score and window score ÷ `orAbove`
         * (a history that learnt earlier anomalies still sees a far-out one). Within an open
         * anomaly the floor lasts `holdOpen` windows, like the hold; an anomaly that outlasted
         * them does not reopen on the floor until the window score drops back under it. 0 = off.
         */
        orAbove: z.number().nonnegative().default(0),
      })
      .strict()
      .default({}),
    /**
     * Peaks over threshold (SPOT / DSPOT, Siffer et al. 2017): per sensor, alarm where the window
     * score passes z_q, the score an extreme-value (Generalised Pareto) tail fitted on the sensor's
     * own scores puts at probability `risk`, instead of 1; the hysteresis above then runs on
     * (score − t) ÷ (z_q − t), t the initial threshold, and an open anomaly's windows do not feed
     * the fit. Settings of `decision: pot`.
     */
    pot: z
      .object({
        /** Deprecated: `decision: pot`. */
        enabled: deprecatedEnabled,
        /** Window scores in a sensor's initial batch (after the `depth` drift window); score > 1 decides until it is full. */
        initial: positiveInt.default(100),
        /** The initial threshold t: this quantile of the initial batch; the excesses over t are fitted. */
        level: z.number().gt(0).lt(1).default(0.98),
        /** q: the probability of a normal window score above z_q (below 1 − `level`). */
        risk: z.number().gt(0).lt(1).default(0.001),
        /** DSPOT: the mean of a sensor's last `depth` normal window scores is taken off each score (drift); 0 = SPOT. */
        depth: z.number().int().nonnegative().default(0),
        /**
         * An anomaly open for this many windows is taken as the sensor's new normal: its POT model
         * starts over with a new initial batch from the windows that follow (score > 1 decides
         * meanwhile), so a lasting new level closes the anomaly. Before that, and with 0
         * throughout, an open anomaly's windows are kept out of the model.
         */
        learnAfter: z.number().int().nonnegative().default(400),
      })
      .strict()
      .refine((pot) => pot.risk < 1 - pot.level, {
        path: ['risk'],
        message: 'detection.pot.risk must be below 1 − detection.pot.level (z_q lies above the initial threshold t)',
      })
      .default({}),
    /**
     * Nonparametric dynamic thresholds (telemanom, Hundman et al. 2018): decide on the sensor's
     * EWMA-smoothed window scores against ε = μ + z·σ of its last `window` smoothed scores, the z
     * chosen by telemanom's criterion; the hysteresis above then runs on smoothed score ÷ ε.
     * Settings of `decision: dynamic`, the default.
     */
    dynamic: z
      .object({
        /** Deprecated: `decision: dynamic` (false: `decision: threshold`). */
        enabled: deprecatedEnabled,
        /** Smoothed scores (one per window) in the history. */
        window: positiveInt.default(4000),
        /**
         * EWMA span of the window scores (α = 2 / (span + 1)); 1 = no smoothing, the default: a
         * window score already averages `windowing.size` overlapping readings.
         */
        span: z.number().min(1).default(1),
        /** Smallest z tried for ε = μ + z·σ. */
        zMin: z.number().nonnegative().default(2.5),
        /** Largest z tried (and ε's z when no value of the history reaches any). */
        zMax: z.number().nonnegative().default(12),
        /** Step between the z tried. */
        zStep: z.number().positive().default(0.5),
        /** Windows between recomputations of a sensor's ε (each costs `window` × the number of z). */
        every: positiveInt.default(20),
        /**
         * Pruning: a smoothed score alarms only if it is also this relative drop above the
         * history's largest value below ε ((e − max) / e ≥ pruning). 0 = off.
         */
        pruning: z.number().min(0).lt(1).default(0.13),
        /** Smoothed scores a sensor needs before ε decides (score > 1 decides until then). */
        warmup: positiveInt.default(100),
        /**
         * While a sensor's anomaly is open, its windows stay out of its history, for at most this
         * many windows of the anomaly (then they join it, and a lasting new level closes the
         * anomaly). 0 = off: they join it at once, as in telemanom, where a fault longer than
         * about a seventh of the history can no longer reach μ + zMin·σ.
         */
        holdOpen: z.number().int().nonnegative().default(400),
      })
      .strict()
      .refine((d) => d.zMin <= d.zMax, { message: 'detection.dynamic.zMin must not exceed zMax', path: ['zMin'] })
      .default({}),
    /** Maintenance windows and operating states: windows neither alarmed on nor learnt from. */
    suppress: suppressSchema.default({}),
    /** Operators' marks on anomaly events (false alarm, confirmed). */
    feedback: feedbackSchema.default({}),
  })
  .strict();

function withoutEnabled<T extends { enabled?: boolean | undefined }>(section: T): Omit<T, 'enabled'> {
  const out: Partial<T> = { ...section };
  delete out.enabled;
  return out as Omit<T, 'enabled'>;
}

/**
 * `detection.decision`, or for a config without it what its `<layer>.enabled` flags meant:
 * likelihood or pot when enabled (not both), else dynamic unless `dynamic.enabled` is false,
 * which left the plain threshold.
 */
export function resolveDecision(d: z.infer<typeof detectionObject>): DecisionName {
  if (d.decision !== undefined) return d.decision;
  if (d.likelihood.enabled === true) return 'likelihood';
  if (d.pot.enabled === true) return 'pot';
  return d.dynamic.enabled === false ? 'threshold' : 'dynamic';
}

export const detectionSchema = detectionObject
  .superRefine((d, ctx) => {
    if (d.decision === undefined && d.likelihood.enabled === true && d.pot.enabled === true) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['pot', 'enabled'],
        message:
          'detection.likelihood and detection.pot each replace score > 1 as the decision; choose one with detection.decision',
      });
    }
  })
  // The loaded config says what decides in one place: the flags are gone once read.
  .transform((d) => ({
    ...d,
    decision: resolveDecision(d),
    likelihood: withoutEnabled(d.likelihood),
    pot: withoutEnabled(d.pot),
    dynamic: withoutEnabled(d.dynamic),
  }));

export const sensorsSchema = z
  .object({
    /** A sensor with no reading for this long (processing time) is `stale`. */
    staleAfterMs: ms.default(60_000),
  })
  .strict();

export const metricsSchema = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(9464),
    /** Per-sensor series are kept for at most this many sensors. */
    maxSensors: positiveInt.default(1_000),
  })
  .strict();

export const adminSchema = z
  .object({
    /** The admin HTTP port (labels, model list, rollback, health); every request needs the token. */
    enabled: z.boolean().default(false),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(9465),
    /** The bearer token every admin request must carry; set it through AEMON_ADMIN_TOKEN, not a file in git. */
    token: z.string().default(''),
  })
  .strict()
  .superRefine((admin, ctx) => {
    if (admin.enabled && admin.token.trim() === '') {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['token'],
        message:
          'admin.enabled needs a bearer token (admin.token or AEMON_ADMIN_TOKEN); the admin port never runs without one',
      });
    }
  });

export const viewSchema = z
  .object({
    /**
     * The live view's address as people reach it (e.g. https://aemon.example.com/), for links to it
     * in alerts (`aemon_view_info{url}`); empty: alerts carry no link.
     */
    externalUrl: z
      .string()
      .refine((u) => u === '' || /^https?:\/\/[^\s]+$/.test(u), { message: 'must be an http(s) URL' })
      .default(''),
  })
  .strict();

export const simulatorSchema = z
  .object({
    sensors: positiveInt.default(5),
    /** Readings per second of event time, per sensor. */
    rateHz: z.number().positive().default(1),
    /** Event time runs this many times faster than the wall clock (1 = real time). */
    speedup: z.number().positive().default(10),
    seed: z.number().int().default(1),
    channels: z.array(z.string().min(1)).min(1).default(['temperature', 'pressure', 'vibration', 'current']),
    /**
     * Event-time seconds at the start with no injected anomaly; by default twice the bootstrap
     * period (`training.bootstrapReadings` readings), so what aemon learns from is normal.
     */
    quietSeconds: z.number().nonnegative().optional(),
    /** Mean event-time seconds between injected anomalies, per sensor (default: 900 readings). */
    anomalyEverySeconds: z.number().positive().optional(),
    /** Event-time seconds an injected anomaly lasts (default: 90 readings). */
    anomalySeconds: z.number().positive().optional(),
    /** Event time of the first reading (ISO-8601); defaults to the wall clock at start. */
    start: z.string().datetime().optional(),
    /** Slow drift of every sensor's load per hour of event time (0 = none; the load itself spans ~0.1–0.9). */
    driftPerHour: z.number().default(0),
    /**
     * A lasting step of every sensor's load by this much (0 = none), `stepAfterSeconds` of event
     * time after the start: the plant moves to a new operating point and stays there.
     */
    step: z.number().default(0),
    stepAfterSeconds: z.number().nonnegative().default(0),
  })
  .strict();

const saslSchema = z
  .object({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
    username: z.string().min(1),
    password: z.string().min(1),
  })
  .strict();

const tlsSchema = z
  .object({
    enabled: z.boolean().default(false),
    /** PEM files; without `ca` the system's trusted CAs are used. */
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    rejectUnauthorized: z.boolean().default(true),
  })
  .strict();

/** Kafka's compression codecs, as kafkajs and aemon name them. */
export const KAFKA_CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
export type KafkaCodecName = (typeof KAFKA_CODECS)[number];

export const kafkaSchema = z
  .object({
    brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']),
    clientId: z.string().min(1).default('aemon'),
    groupId: z.string().min(1).default('aemon'),
    /** Input topics: names, or regular expressions written as `/pattern/`. */
    topics: z.array(z.string().min(1)).min(1).default(['sensors']),
    /** Where a new consumer group starts: the beginning of the topics, or only new records. */
    fromBeginning: z.boolean().default(true),
    anomaliesTopic: z.string().min(1).default('aemon.anomalies'),
    /** Every scored window; empty = off. */
    scoresTopic: z.string().default(''),
    dlqTopic: z.string().min(1).default('aemon.dlq'),
    labelsTopic: z.string().min(1).default('aemon.labels'),
    /**
     * Promoted models, compacted, keyed by model group: an instance that retrains (training.intervalMs
     * or training.afterWindows set) publishes each promotion; every instance follows it and scores
     * with the latest. Empty = off.
     */
    modelsTopic: z.string().default('aemon.models'),
    /**
     * Each sensor's decision state (the decision's history, the open anomaly, mutes) as of the
     * committed offsets, compacted, keyed by group, partition and sensor, written before each
     * commit: a new owner of a partition (after a restart or a rebalance) decides on from it, so
     * what it writes again is identical. Empty = off: a new owner's decisions start afresh.
     */
    stateTopic: z.string().default('aemon.state'),
    /**
     * The codec of every record aemon writes to Kafka (anomalies, scores, dead letters, simulated
     * readings; promoted models are gzip unless this names another). Topics in any codec are read.
     */
    compression: z.enum(['none', ...KAFKA_CODECS]).default('none'),
    sessionTimeoutMs: positiveInt.default(30_000),
    /** How often acked offsets are committed (they are also committed at every batch end). */
    commitIntervalMs: positiveInt.default(1_000),
    /** On SIGTERM/SIGINT: time to drain in-flight readings and commit before exiting anyway. */
    shutdownTimeoutMs: positiveInt.default(15_000),
    /**
     * NDJSON file (appended to) for records an output topic refuses for good (too large, not
     * authorized, …), with their headers; empty = none: then the partitions those records came
     * from stop (not the process) and /readyz says so.
     */
    dlqFallbackFile: z.string().default(''),
    /**
     * /readyz turns not-ready when the consumer has neither fetched nor handed out a record for
     * this long while it owns partitions (an idle topic still fetches every few seconds).
     */
    stallAfterMs: positiveInt.default(60_000),
    /**
     * Each batch's scores, anomaly events and dead letters are written together with its offsets
     * in one Kafka transaction: a crash leaves no duplicate in any output topic for consumers
     * that read with isolation.level=read_committed.
     */
    exactlyOnce: z.boolean().default(false),
    /**
     * With exactlyOnce: the transactional id, stable for one instance across its restarts and
     * distinct from every other instance's (a restart with the same id aborts what the killed
     * process left open); empty = `aemon-<groupId>-<hostname>`.
     */
    transactionalId: z.string().default(''),
    sasl: saslSchema.optional(),
    tls: tlsSchema.default({}),
  })
  .strict();

export const logSchema = z
  .object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export const configSchema = z
  .object({
    reading: readingSchema.default({}),
    windowing: windowingSchema.default({}),
    model: modelSchema.default({}),
    training: trainingSchema.default({}),
    scoring: scoringSchema.default({}),
    detection: detectionSchema.default({}),
    sensors: sensorsSchema.default({}),
    metrics: metricsSchema.default({}),
    admin: adminSchema.default({}),
    view: viewSchema.default({}),
    simulator: simulatorSchema.default({}),
    kafka: kafkaSchema.default({}),
    log: logSchema.default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type ReadingConfig = Config['reading'];
export type WindowingConfig = Config['windowing'];
export type ModelConfig = Config['model'];
export type TrainingConfig = Config['training'];
export type ScoringConfig = Config['scoring'];
export type DetectionConfig = Config['detection'];
export type MetricsConfig = Config['metrics'];
export type AdminConfig = Config['admin'];
export type ViewConfig = Config['view'];
/** The simulator's settings with the defaults that depend on its rate and the bootstrap filled in. */
export type SimulatorConfig = Omit<Config['simulator'], 'quietSeconds' | 'anomalyEverySeconds' | 'anomalySeconds'> & {
  quietSeconds: number;
  anomalyEverySeconds: number;
  anomalySeconds: number;
};

export function simulatorSettings(cfg: Pick<Config, 'simulator' | 'training'>): SimulatorConfig {
  const s = cfg.simulator;
  return {
    ...s,
    quietSeconds: s.quietSeconds ?? (2 * cfg.training.bootstrapReadings) / s.rateHz,
    anomalyEverySeconds: s.anomalyEverySeconds ?? 900 / s.rateHz,
    anomalySeconds: s.anomalySeconds ?? 90 / s.rateHz,
  };
}
export type KafkaConfig = Config['kafka'];
