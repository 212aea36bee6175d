// The native API's types, generated from openapi/kumo.json by `npm run gen` (schema.d.ts is
// rebuilt on every build and check, so an API change the console does not follow fails tsc).
import type { components } from "./schema";

export type Schemas = components["schemas"];
