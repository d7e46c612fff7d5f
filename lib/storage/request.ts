/** Where the finished images of a run go (one storage mode for the whole run). */
export type StorageRequest =
  | { mode: 'build-only'; path: string }
  | { mode: 'local'; path: string; signingKey?: string }
  | { mode: 'publish'; bucket: string; cloudfrontDistributionId?: string; ami?: AmiRequest; signingKey?: string };

/** How ami images are registered on publish (--ami-copy-to, --ami-share-with). */
export interface AmiRequest {
  copyToRegions?: string[];
  shareWithAccounts?: string[];
}
