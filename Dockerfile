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
COPY bin ./bin
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/build ./build
COPY --from=build /app/bin ./bin
# The "restricted" Pod Security Standard: a numeric non-root user (the Deployment's runAsUser).
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/anvil.js"]
CMD ["reconcile"]
