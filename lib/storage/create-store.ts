import { BuildRequest } from '../builder/request';
import { packerFor } from '../builder/packers';
import { BuildOnlyStore } from './local/build-only-store';
import { LocalStore } from './local/local-store';
import { createS3Store } from './s3/s3-store';
import { ImageStore } from './store';

/** The store a request asks for. */
export function createStore(request: BuildRequest): ImageStore {
  const imageFile = `${request.imageName}.${packerFor(request.recipe.build_type).extension}`;
  const storage = request.storage;
  switch (storage.mode) {
    case 'build-only':
      return new BuildOnlyStore(storage.path, imageFile);
    case 'local':
      return new LocalStore(storage.path, request.releaseLabel, imageFile);
    case 'publish':
      return createS3Store(storage, {
        releaseLabel: request.releaseLabel,
        ...(request.recipe.build_type === 'docker'
          ? { docker: { registry: request.dockerRegistry, repository: request.recipe.docker.repository } }
          : {}),
      });
  }
}
