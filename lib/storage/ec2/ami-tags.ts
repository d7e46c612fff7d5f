import { hostname } from 'node:os';
import { BuiltImage, mainArtifact } from '../../core/image';
import { IMAGE_TAG } from '../../core/factory-tags';

/**
 * The tags the AMI publisher puts on every snapshot and image it makes. The factory's
 * grants are conditioned on them (lib/constructs/ami-grants.ts): a build project may only
 * start snapshots and register images that carry AMI_MARKER_TAG, and only delete,
 * deregister, retag or share resources that carry it.
 */
export const AMI_MARKER_TAG = 'tailor-image:ami';
/** `uploading` from StartSnapshot until the image is registered, then `registered`. */
export const AMI_STATE_TAG = 'tailor-image:state';
export const AMI_RELEASE_TAG = 'tailor-image:release-label';
export const AMI_TIMESTAMP_TAG = 'tailor-image:timestamp';
export const AMI_SHA256_TAG = 'tailor-image:sha256';
/** `<host>:<pid>:<run>` of the publisher that started the snapshot (see ami-sweep.ts). */
export const AMI_WRITER_TAG = 'tailor-image:writer';
/** The image name, on the snapshot and the image (IMAGE_TAG holds the recipe name on projects). */
export const AMI_IMAGE_NAME_TAG = 'tailor-image:image-name';

export type AmiState = 'uploading' | 'registered';

export interface Tag {
  Key: string;
  Value: string;
}

/** A random id for this process's run, so that its own live uploads are never swept. */
const RUN_ID = Math.random().toString(36).slice(2, 10);

export function writerTag(): string {
  return `${hostname()}:${process.pid}:${RUN_ID}`;
}

/** The tags naming an image: image name, release label, timestamp, sha256 of its .raw.xz. */
export function imageTags(image: BuiltImage): Tag[] {
  return [
    { Key: AMI_MARKER_TAG, Value: image.imageName },
    { Key: AMI_IMAGE_NAME_TAG, Value: image.imageName },
    { Key: IMAGE_TAG, Value: image.name },
    { Key: AMI_RELEASE_TAG, Value: image.releaseLabel },
    { Key: AMI_TIMESTAMP_TAG, Value: image.timestamp },
    { Key: AMI_SHA256_TAG, Value: mainArtifact(image).sha256 },
    { Key: 'Name', Value: image.imageName },
  ];
}

/** What a snapshot carries while it is made: the image's tags, the state and its writer. */
export function snapshotTags(image: BuiltImage, writer: string): Tag[] {
  return [...imageTags(image), { Key: AMI_STATE_TAG, Value: 'uploading' }, { Key: AMI_WRITER_TAG, Value: writer }];
}

export function tagValue(tags: { Key?: string; Value?: string }[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}
