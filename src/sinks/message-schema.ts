/**
 * The JSON contracts of the `aemon.anomalies` and `aemon.scores` records, as zod schemas: the
 * message builders are typed by them, and `schemas/*.schema.json` is generated from them
 * (`npm run schemas`; a test keeps the committed files equal to the generated ones).
 */
import { z } from 'zod/v4';

const number = z.number();
const isoTime = z.iso.datetime().describe('ISO-8601 event time (UTC)');

export const severitySchema = z
  .enum(['minor', 'major', 'critical'])
  .describe(
    "The score's band by detection.severity: minor above 1, major from severity.major, critical from severity.critical",
  );

export const channelExplanationSchema = z
  .object({
    channel: z.string(),
    share: number.min(0).max(1).describe("The channel's share of the window's reconstruction error"),
    reading: number.nullable().describe("The channel's value in the window's last reading, in its own units"),
    expected: number
      .nullable()
      .describe("The model's reconstruction of that reading, in the channel's units; null when the model gives none"),
    deviation: number.nullable().describe('reading − expected'),
    direction: z
      .enum(['above', 'below'])
      .nullable()
      .describe('Whether the reading is above or below what was expected'),
  })
  .strict();

export const anomalyRecordSchema = z
  .object({
    id: z.string().describe('Stable id: the same sensor, start and model version give the same id on every replay'),
    kind: z.enum(['opened', 'closed']),
    sensor: z.string(),
    group: z.string().describe("The sensor's model group (its channel set)"),
    start: isoTime.describe('End of the first window above the threshold'),
    end: isoTime.nullable().describe('Event time the anomaly closed; null on opened'),
    peakScore: number.describe(
      'Highest score of the anomaly so far: what the decision compares with 1 (> 1 = above the threshold in force)',
    ),
    severity: severitySchema,
    topChannels: z.array(channelExplanationSchema).describe('The channels with the largest error shares at the peak'),
    modelVersion: z.string(),
  })
  .strict()
  .meta({ title: 'aemon.anomalies record', description: 'An anomaly opening or closing (key: the sensor id)' });

export const scoreRecordSchema = z
  .object({
    id: z.string().describe('The window id, `sensor@endTs`'),
    sensor: z.string(),
    start: isoTime,
    end: isoTime,
    score: number.describe('What the decision compares with 1, whichever detection.decision is in force'),
    rawScore: number.describe("The window's error ÷ the sensor's calibrated threshold"),
    error: number.describe('Reconstruction error of the window, in scaled units'),
    threshold: number
      .nullable()
      .describe('The threshold in force, in error units; null under decision likelihood, which has none'),
    anomaly: z.boolean().describe('State after hysteresis'),
    severity: severitySchema.nullable().describe("The window score's band; null at or below 1"),
    channels: z.record(z.string(), number).describe("Each channel's share of the window error"),
    topChannels: z.array(channelExplanationSchema),
    modelVersion: z.string(),
    latent: z
      .object({
        x: number.describe("The code projected on the training codes' first principal direction"),
        y: number.describe('… and on their second'),
        distance: number
          .min(0)
          .describe(
            "Mahalanobis distance of the code to the training codes; 1 = the held-out normal windows' quantile",
          ),
        code: z.array(number).describe("The window's bottleneck code"),
      })
      .strict()
      .optional()
      .describe("With scoring.latent: the window's place in the model's latent space"),
  })
  .strict()
  .meta({ title: 'aemon.scores record', description: 'One scored window (key: the sensor id)' });

export type AnomalyRecord = z.infer<typeof anomalyRecordSchema>;
export type ScoreRecord = z.infer<typeof scoreRecordSchema>;

/** The published JSON Schemas, by file name under `schemas/`. */
export function messageJsonSchemas(): Record<string, unknown> {
  return {
    'aemon.anomalies.schema.json': z.toJSONSchema(anomalyRecordSchema, { target: 'draft-2020-12' }),
    'aemon.scores.schema.json': z.toJSONSchema(scoreRecordSchema, { target: 'draft-2020-12' }),
  };
}
