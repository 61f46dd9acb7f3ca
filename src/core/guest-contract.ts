// Where a guest reaches the platform from inside (docs/guest-contract.md):
// an address of QEMU's user network that QEMU forwards, per instance, to the
// daemon. Only that instance's VM can reach its endpoint.
export const guestEndpoint = { host: "10.0.2.100", port: 80 } as const;

/** cloud-init's phone_home URL; cloud-init puts the instance id in for $INSTANCE_ID. */
export const phoneHomeUrl = `http://${guestEndpoint.host}/phone-home/$INSTANCE_ID`;
