/** What a cleanup removed (or, in a dry run, would remove). */
export interface CleanupItem {
  imageName: string;
  timestamp: string;
  name: string;
  distribution: string;
  /** Files or object keys that go (every version of each, where the bucket keeps versions). */
  objects: string[];
  /** Object versions and delete markers that go (S3 only). */
  versions: number;
  /** `<region>:<id>` of the AMIs (and the snapshot they were registered from) that go (ami images). */
  amis?: string[];
}

export interface CleanupReport {
  location: string;
  dryRun: boolean;
  /** Images the index holds for the organization. */
  considered: number;
  removed: CleanupItem[];
}
