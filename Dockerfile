# The Anvil image: the `anvil` CLI, whose default command is the in-cluster reconciler
# (`anvil reconcile`, as the Deployment in dist/0003-reconciler.k8s.yaml runs it).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` builds, and the sources are not copied yet.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json main.ts ./
COPY lib ./lib
COPY games ./games
COPY imports ./imports
COPY scripts ./scripts
COPY bin ./bin
# tsc, then esbuild: build/image/ is the whole CLI in one bundle (scripts/bundle.ts says why).
RUN npm run build

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
# The bundle needs no node_modules (scripts/bundle.ts refuses one that would); package.json
# is where `anvil --version` reads the version.
COPY --from=build /app/package.json ./
COPY --from=build /app/build/image ./build/image
# The "restricted" Pod Security Standard: a numeric non-root user (the Deployment's runAsUser).
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/build/image/anvil.js"]
CMD ["reconcile"]
