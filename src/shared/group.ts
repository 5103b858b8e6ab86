/** The model group of a channel set: its channel names sorted and joined by commas. */
export function groupKey(channels: readonly string[]): string {
  return sortedGroupKey([...channels].sort());
}

/** `groupKey` of channels already sorted (as the decoder hands them out): no copy, no sort per reading. */
export function sortedGroupKey(sorted: readonly string[]): string {
  return sorted.join(',');
}
