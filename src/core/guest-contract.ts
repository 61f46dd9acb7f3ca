import type { ConfigDriveContent, GuestMetadata } from "./ports.ts";
// Where a guest reaches the platform from inside (docs/guest-contract.md):
// an address of QEMU's user network that QEMU forwards, per instance, to the
// daemon. Only that instance's VM can reach its endpoint.
export const guestEndpoint = { host: "10.0.2.100", port: 80 } as const;

/** cloud-init's phone_home URL; cloud-init puts the instance id in for $INSTANCE_ID. */
export const phoneHomeUrl = `http://${guestEndpoint.host}/phone-home/$INSTANCE_ID`;

/**
 * Where cloudbase-init and EC2-style agents look for their metadata service.
 * QEMU forwards only addresses inside its user network, so a guest that needs
 * this address gets 169.254.169.0/24 as its network instead of 10.0.2.0/24.
 */
export const metadataEndpoint = { host: "169.254.169.254", port: 80, net: "169.254.169.0/24" } as const;

/**
 * The zone meta_data.json names when the daemon gives none: OpenStack's own
 * default zone name. cloudbase-init reads no zone; it is there for scripts.
 */
export const openstackDefaultZone = "nova";

/** How much of the encrypted password a guest may hand in: RSA-4096 ciphertext in base64 is 684. */
export const maxPasswordDataChars = 4096;

/** Standard base64, padded: what EC2's GetPasswordData and cloudbase-init's POST carry. */
export function isPasswordData(text: string): boolean {
  return text.length > 0 && text.length <= maxPasswordDataChars && text.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(text);
}

/**
 * What a guest's metadata says, from its seed: the config-2 drive and the
 * metadata service serve the same. The key goes by its key pair's name
 * (numbered without one; cloudbase-init reads only the keys).
 */
export function metadataOf(c: ConfigDriveContent): GuestMetadata {
  return {
    uuid: c.instanceId,
    hostname: c.hostname,
    publicKeys: Object.fromEntries(c.publicKeys.map((k, i) => [i === 0 && c.keyName ? c.keyName : `key-${i + 1}`, k])),
    userData: c.userData,
  };
}
