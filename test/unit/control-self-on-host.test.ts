// Review finding: a bridge run on a Podman host (not in a container) read every container's id from
// its own mount table (Podman mounts each container's /dev/shm on the host under
// overlay-containers/<id>/userdata/shm), so every container was "the bridge's own": control
// refused stop/pause/restart everywhere, announced no control entity, and Install was never offered.
import { expect, it } from "vitest";
import { idsIn, isSelfBy, ownMounts } from "../../src/control/self.js";

const web = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
const self = "aa".repeat(32);

it("on the host, other containers' shm mounts do not make them the bridge's own", () => {
  const hostMountinfo = [
    "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw",
    `801 22 0:77 / /var/lib/containers/storage/overlay-containers/${web}/userdata/shm rw,nosuid,nodev,noexec,relatime shared:400 - tmpfs shm rw,size=64000k`,
  ].join("\n");
  const clues = {
    ids: idsIn("0::/system.slice/dmb.service\n", ownMounts(hostMountinfo)),
    hostname: "nas",
  };
  expect(isSelfBy(clues, { id: web })).toBe(false);
  // What readSelfClues read before: the whole table, which names the other container.
  expect(idsIn(hostMountinfo).has(web)).toBe(true);
});

it("in a container, the /etc/hostname bind mount still names it", () => {
  const inside = [
    `612 589 0:50 / / rw,relatime - overlay overlay rw,upperdir=/var/lib/containers/storage/overlay/${"b".repeat(64)}/diff`,
    `631 612 254:1 /var/lib/containers/storage/overlay-containers/${self}/userdata/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw`,
    `632 612 0:77 / /dev/shm rw - tmpfs shm rw`,
  ].join("\n");
  const clues = { ids: idsIn("0::/\n", ownMounts(inside)), hostname: "myhost" };
  expect(isSelfBy(clues, { id: self })).toBe(true);
  expect(isSelfBy(clues, { id: web })).toBe(false);
});
