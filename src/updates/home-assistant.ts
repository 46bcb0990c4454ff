// What Home Assistant shows of the image checks, pure: the `update` entity on each checked
// container's device (its JSON state, under `home_assistant` in the update topic's payload), and
// the host's count of containers with an update.
import type { Component, DiscoveryExtension } from "../homeassistant/discovery.js";
import type { Topics } from "../homeassistant/topics.js";
import type { ContainerRecord } from "../state/model.js";
import type { UpdateStatus } from "./checker.js";
import { parseReference, shortDigest } from "./reference.js";

export const UPDATE_KEY = "update";
export const HOST_COUNT_KEY = "updates_available";
export const INSTALL_PAYLOAD = "install";

export interface InstallProgress {
  /** 0-100 when the pull reports sizes, else null. */
  percentage: number | null;
}

/** A version Home Assistant shows and compares: `1.27@sha256:0123456789ab`, or the short digest. */
export function versionText(image: string, digest: string): string {
  const tag = parseReference(image)?.tag;
  return tag ? `${tag}@${shortDigest(digest)}` : shortDigest(digest);
}

/**
 * The update entity's JSON state: only the keys Home Assistant's schema takes, and no nulls in its
 * string keys (either would make it drop the whole message). Versions are never numbers, so Home
 * Assistant cannot order them and shows an update whenever they differ.
 */
export function entityState(
  status: UpdateStatus,
  progress: InstallProgress | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = { title: status.image };
  if (status.installed) out.installed_version = versionText(status.image, status.installed);
  if (status.latest) out.latest_version = versionText(status.image, status.latest);
  if (status.release_url) out.release_url = status.release_url;
  out.release_summary = status.reason ? `Not checkable: ${status.detail ?? status.reason}` : "";
  out.in_progress = progress !== undefined;
  out.update_percentage = progress?.percentage ?? null;
  return out;
}

/** The retained payload of the update topic: the check, plus Home Assistant's state. */
export function updatePayload(status: UpdateStatus, progress: InstallProgress | undefined): string {
  return JSON.stringify({ ...status, home_assistant: entityState(status, progress) });
}

/** The host's retained count: containers with an update, up to date, not checkable. */
export function hostCount(statuses: ReadonlyMap<string, UpdateStatus>): {
  available: number;
  up_to_date: number;
  not_checkable: number;
  containers: string[];
} {
  const all = [...statuses];
  const count = (test: (s: UpdateStatus) => boolean) => all.filter(([, s]) => test(s)).length;
  return {
    available: count((s) => s.available === true),
    up_to_date: count((s) => s.available === false),
    not_checkable: count((s) => s.available === null),
    containers: all
      .filter(([, s]) => s.available === true)
      .map(([name]) => name)
      .sort(),
  };
}

export interface UpdatesDiscoveryDeps {
  topics: Topics;
  /** Whether a container's image is checked (configuration and its opt-out label). */
  isChecked: (record: ContainerRecord) => boolean;
  /** Whether Install may act on it (control allowlist, never the bridge's own container). */
  mayInstall: (record: ContainerRecord) => boolean;
}

export function updatesDiscovery(deps: UpdatesDiscoveryDeps): DiscoveryExtension {
  const { topics } = deps;
  return {
    containerKey: (record) =>
      deps.isChecked(record) ? `u${deps.mayInstall(record) ? "i" : ""}` : "",
    container(record): Component[] {
      if (!deps.isChecked(record)) return [];
      const state = topics.containerUpdate(record.name);
      const config: Record<string, unknown> = {
        name: "Image",
        icon: "mdi:docker",
        state_topic: state,
        value_template: "{{ value_json.home_assistant | to_json }}",
        // Not checkable (or not yet checked): unavailable, never "up to date".
        availability: [
          { topic: topics.availability() },
          {
            topic: state,
            value_template:
              "{{ 'online' if value_json is defined and value_json.available is not none else 'offline' }}",
          },
        ],
        availability_mode: "all",
      };
      if (deps.mayInstall(record)) {
        config.command_topic = topics.containerUpdateInstall(record.name);
        config.payload_install = INSTALL_PAYLOAD;
      }
      return [{ key: UPDATE_KEY, platform: "update", config }];
    },
    host(): Component[] {
      return [
        {
          key: HOST_COUNT_KEY,
          platform: "sensor",
          config: {
            name: "Image updates",
            icon: "mdi:package-up",
            state_topic: topics.hostUpdates(),
            value_template: "{{ value_json.available }}",
            json_attributes_topic: topics.hostUpdates(),
            state_class: "measurement",
          },
        },
      ];
    },
  };
}
