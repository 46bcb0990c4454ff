// How a container is created again on a newer image, pure: from its inspect answer (and its old
// image's, to tell what the user set from what the image defaulted) to a create body, plus the
// networks to connect before the start. What the old image only defaulted (its Env, Cmd, labels,
// volumes...) is left out, so the new image's defaults apply; everything the user set is kept.

type Json = Record<string, unknown>;

export interface RecreatePlan {
  name: string;
  /** The body of `POST /containers/create?name=<name>`. */
  body: Json;
  /** Further networks, connected after the create and before the start (engines below API 1.44 take one network at create). */
  connect: { network: string; config: Json }[];
  wasRunning: boolean;
}

const obj = (v: unknown): Json =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Config keys whose value the image provides when the user gave none. */
const IMAGE_DEFAULTED = [
  "Cmd",
  "Entrypoint",
  "WorkingDir",
  "User",
  "StopSignal",
  "Healthcheck",
  "Shell",
] as const;

function keptMap(container: unknown, image: unknown): Json | undefined {
  const own = obj(container);
  const defaults = obj(image);
  const out: Json = {};
  for (const [k, v] of Object.entries(own)) {
    if (!(k in defaults) || !same(defaults[k], v)) out[k] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The container's Config as a create body's, without what the old image only defaulted. */
export function configFor(inspect: Json, oldImageConfig: Json | undefined, image: string): Json {
  const config: Json = { ...obj(inspect.Config) };
  delete config.OnBuild;
  delete config.ArgsEscaped;
  config.Image = image;
  const id = typeof inspect.Id === "string" ? inspect.Id : "";
  // The engine names a container's host after its id unless told otherwise.
  if (config.Hostname === id.slice(0, 12)) delete config.Hostname;
  if (!oldImageConfig) return config;
  for (const key of IMAGE_DEFAULTED) {
    if (key in config && same(config[key], oldImageConfig[key] ?? null)) delete config[key];
  }
  const imageEnv = new Set(list(oldImageConfig.Env));
  const env = list(config.Env).filter((e) => !imageEnv.has(e));
  if (env.length > 0) config.Env = env;
  else delete config.Env;
  for (const key of ["Labels", "ExposedPorts", "Volumes"] as const) {
    const kept = keptMap(config[key], oldImageConfig[key]);
    if (kept) config[key] = kept;
    else delete config[key];
  }
  return config;
}

/**
 * HostConfig as it was, plus the container's anonymous volumes (an image VOLUME, `-v /path`)
 * mounted again by name: a new container would otherwise start with empty ones.
 */
export function hostConfigFor(inspect: Json): Json {
  const host: Json = { ...obj(inspect.HostConfig) };
  const targets = new Set<string>();
  for (const bind of list(host.Binds)) {
    if (typeof bind === "string") targets.add(bind.split(":")[1] ?? "");
  }
  const mounts = list(host.Mounts).map(obj);
  for (const m of mounts) if (typeof m.Target === "string") targets.add(m.Target);
  const anonymous = list(inspect.Mounts)
    .map(obj)
    .filter(
      (m) =>
        m.Type === "volume" &&
        typeof m.Name === "string" &&
        typeof m.Destination === "string" &&
        !targets.has(m.Destination),
    )
    .map((m) => ({
      Type: "volume",
      Source: m.Name,
      Target: m.Destination,
      ReadOnly: m.RW === false,
    }));
  if (anonymous.length > 0) host.Mounts = [...mounts, ...anonymous];
  return host;
}

/** An endpoint's settings as a create or connect request takes them. */
function endpointFor(settings: Json, shortId: string): Json {
  const out: Json = {};
  const aliases = list(settings.Aliases).filter((a) => typeof a === "string" && a !== shortId);
  if (aliases.length > 0) out.Aliases = aliases;
  const ipam = obj(settings.IPAMConfig);
  const addresses: Json = {};
  for (const key of ["IPv4Address", "IPv6Address", "LinkLocalIPs"] as const) {
    const v = ipam[key];
    if ((typeof v === "string" && v !== "") || (Array.isArray(v) && v.length > 0))
      addresses[key] = v;
  }
  if (Object.keys(addresses).length > 0) out.IPAMConfig = addresses;
  if (list(settings.Links).length > 0) out.Links = settings.Links;
  if (Object.keys(obj(settings.DriverOpts)).length > 0) out.DriverOpts = settings.DriverOpts;
  return out;
}

const NO_ENDPOINTS = new Set(["host", "none"]);

/** The whole plan: create body, networks to connect, and whether to start it. */
export function recreatePlan(
  inspect: Json,
  oldImageConfig: Json | undefined,
  image: string,
): RecreatePlan {
  const name = typeof inspect.Name === "string" ? inspect.Name.replace(/^\//, "") : "";
  const id = typeof inspect.Id === "string" ? inspect.Id : "";
  const hostConfig = hostConfigFor(inspect);
  const body: Json = { ...configFor(inspect, oldImageConfig, image), HostConfig: hostConfig };
  const networks = obj(obj(inspect.NetworkSettings).Networks);
  const mode = typeof hostConfig.NetworkMode === "string" ? hostConfig.NetworkMode : "default";
  const connect: RecreatePlan["connect"] = [];
  if (!NO_ENDPOINTS.has(mode) && !mode.startsWith("container:")) {
    const names = Object.keys(networks);
    const primary = mode === "default" ? "bridge" : names.includes(mode) ? mode : names[0];
    const shortId = id.slice(0, 12);
    for (const network of names) {
      const config = endpointFor(obj(networks[network]), shortId);
      if (network === primary) body.NetworkingConfig = { EndpointsConfig: { [network]: config } };
      else connect.push({ network, config });
    }
  }
  const state = obj(inspect.State);
  return { name, body, connect, wasRunning: state.Running === true };
}
