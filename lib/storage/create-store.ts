import { BuildOnlyStore } from './local/build-only-store';
import { LocalStore } from './local/local-store';
import { StorageRequest } from './request';
import { createS3Store } from './s3/s3-store';
import { ImageStore, PlannedImage } from './store';

/** The one store of a run: the storage mode asked for, knowing every image the run will put. */
export function createStore(storage: StorageRequest, images: PlannedImage[]): ImageStore {
  switch (storage.mode) {
    case 'build-only':
      return new BuildOnlyStore(storage.path, images);
    case 'local':
      return new LocalStore(storage.path, images, storage.signingKey);
    case 'publish':
      return createS3Store(storage, images);
  }
}
