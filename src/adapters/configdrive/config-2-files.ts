import { metadataOf, openstackDefaultZone } from "../../core/guest-contract.ts";
import type { ConfigDriveContent, GuestMetadata } from "../../core/ports.ts";
import { renderAnswerFile } from "../guest/unattend-xml.ts";

// The files of an OpenStack config drive (label config-2) as cloudbase-init
// reads them (metadata/services/baseopenstackservice.py): meta_data.json for
// uuid, hostname and public_keys, user_data as given. The metadata service
// (api/guest-endpoint.ts) serves the same meta_data.json.

/** openstack/<version>/meta_data.json. Keys are sorted by name so that the document is stable. */
export function openstackMetaData(m: GuestMetadata, availabilityZone = openstackDefaultZone): string {
  const doc: Record<string, unknown> = { uuid: m.uuid };
  if (m.hostname) doc.hostname = m.hostname;
  doc.name = m.hostname ?? m.uuid;
  doc.public_keys = Object.fromEntries(Object.entries(m.publicKeys).sort(([a], [b]) => a.localeCompare(b)));
  doc.launch_index = 0;
  doc.availability_zone = availabilityZone;
  return `${JSON.stringify(doc)}\n`;
}


/**
 * The config-2 drive's files, path to content. No password ever: a Windows
 * guest gets its own in the answer file, or generates one and hands it in
 * encrypted over the metadata service.
 */
export function config2Files(c: ConfigDriveContent, availabilityZone = openstackDefaultZone): [string, string][] {
  const files: [string, string][] = [["openstack/latest/meta_data.json", openstackMetaData(metadataOf(c), availabilityZone)]];
  // The user's own, byte for byte (a PowerShell or cmd script, cloud-config, multipart).
  if (c.userData !== null) files.push(["openstack/latest/user_data", c.userData]);
  if (c.answerFile !== null) files.push(["unattend.xml", renderAnswerFile(c.answerFile)]);
  return files;
}
