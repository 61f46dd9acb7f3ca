import type { PreflightFinding, RegistryValue, WindowsFacts } from "./windows.ts";

/** Sysprep refuses to generalize one installation more than this many times (Microsoft's Sysprep guide). */
export const sysprepRunLimit = 1001;

/**
 * Server roles Sysprep does not support on Windows Server 2012 and later
 * (Microsoft: "Sysprep support for server roles"). The keys are the feature
 * names of Install-WindowsFeature (and DISM's name of a domain controller),
 * which name the ServerComponentCache keys.
 */
const unsupportedRoles: Readonly<Record<string, string>> = {
  "AD-Certificate": "Active Directory Certificate Services",
  "AD-Domain-Services": "Active Directory Domain Services",
  "DirectoryServices-DomainController": "Active Directory Domain Services",
  "ADFS-Federation": "Active Directory Federation Services",
  "ADLDS": "Active Directory Lightweight Directory Services",
  "ADRMS": "Active Directory Rights Management Services",
  "DHCP": "DHCP Server",
  "Fax": "Fax Server",
};

const installed = (state: RegistryValue) => Number(state) === 1;

/** The Sysprep preflight: each cause in the seeds that is present in these facts. */
export function preflightFindings(facts: WindowsFacts, lineage: { generalizations: number }): PreflightFinding[] {
  return [
    ...encrypted(facts),
    ...cdrom(facts),
    ...panther(facts),
    ...appx(facts),
    ...runLimit(lineage.generalizations),
    ...roles(facts),
    ...radius(facts),
    ...profiles(facts),
  ];
}

function encrypted(facts: WindowsFacts): PreflightFinding[] {
  return facts.partitions
    .filter((p) => /bitlocker|crypto_luks/i.test(p.vfsType))
    .map((p) => ({
      code: "BITLOCKER",
      severity: "blocking",
      where: `${p.device} (${p.vfsType})`,
      message: "The volume is encrypted: Sysprep fails on a BitLocker volume, and no clone could read it",
      fix: "Decrypt it in the guest (manage-bde -off C:, or Disable-BitLocker) and wait for decryption to finish",
    }));
}

function cdrom(facts: WindowsFacts): PreflightFinding[] {
  const found: PreflightFinding[] = [];
  if (Number(facts.cdromStart) === 4) {
    found.push({
      code: "CDROM_DISABLED",
      severity: "blocking",
      where: "SYSTEM\\CurrentControlSet\\Services\\cdrom\\Start = 4",
      message: "The CD-ROM driver is disabled: the config drive with the answer file is never read, and the VM stays at OOBE",
      fix: "Set Services\\cdrom\\Start to 1 (Set-ItemProperty HKLM:\\SYSTEM\\CurrentControlSet\\Services\\cdrom -Name Start -Value 1)",
    });
  }
  for (const d of facts.removableStorageDeny.filter((x) => Number(x.data) === 1)) {
    found.push({
      code: "CDROM_DISABLED",
      severity: "blocking",
      where: `SOFTWARE\\${d.key}\\${d.value} = 1`,
      message: "A removable-storage policy denies the CD-ROM: the config drive with the answer file is never read, and the VM stays at OOBE",
      fix: "Remove the policy (gpedit: Computer Configuration > Administrative Templates > System > Removable Storage Access)",
    });
  }
  return found;
}

function panther(facts: WindowsFacts): PreflightFinding[] {
  return facts.pantherAnswerFiles.map((file) => ({
    code: "PANTHER_UNATTEND",
    severity: "warning",
    where: file,
    message: "A leftover answer file outranks the one imagesmith delivers",
    fix: "Run the preflight with --fix on the stopped instance (it deletes the file), or delete it in the guest; a generalized capture deletes it on the copy",
  }));
}

function appx(facts: WindowsFacts): PreflightFinding[] {
  const provisioned = new Set(facts.appxProvisioned.map((p) => p.toLowerCase()));
  return facts.appxPerUser
    .filter((a) => !provisioned.has(a.packageFullName.toLowerCase()))
    .map((a) => ({
      code: "APPX_NOT_PROVISIONED",
      severity: "blocking",
      where: `SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Appx\\AppxAllUserStore\\${a.sid}\\${a.packageFullName}`,
      message: `The Store app ${a.packageFullName} is installed for a user but not provisioned for all users: Sysprep fails (error 0x80073cf2)`,
      fix: `Remove it for that user (Remove-AppxPackage -Package ${a.packageFullName}) or provision it for all users`,
    }));
}

function runLimit(done: number): PreflightFinding[] {
  if (done < sysprepRunLimit) return [];
  return [{
    code: "SYSPREP_LIMIT",
    severity: "blocking",
    where: "this image's lineage (counted by imagesmith)",
    message: `The lineage has been generalized ${done} times: Sysprep runs at most ${sysprepRunLimit} times on one installation`,
    fix: "Build a fresh image from installation media",
  }];
}

function roles(facts: WindowsFacts): PreflightFinding[] {
  const found: PreflightFinding[] = facts.serverFeatures
    .filter((f) => Object.hasOwn(unsupportedRoles, f.name) && installed(f.installState))
    .map((f) => ({
      code: "UNSUPPORTED_ROLE",
      severity: "blocking",
      where: `SOFTWARE\\Microsoft\\ServerManager\\ServicingStorage\\ServerComponentCache\\${f.name}`,
      message: `The server role ${unsupportedRoles[f.name]} (${f.name}) is installed: Sysprep does not support it`,
      fix: `Remove the role before generalizing (Uninstall-WindowsFeature ${f.name}), and install it on each clone`,
    }));
  if (facts.productType === "LanmanNT") {
    found.push({
      code: "UNSUPPORTED_ROLE",
      severity: "blocking",
      where: "SYSTEM\\CurrentControlSet\\Control\\ProductOptions\\ProductType = LanmanNT",
      message: "This is a domain controller: Sysprep cannot generalize one",
      fix: "Demote it (Uninstall-ADDSDomainController) before generalizing",
    });
  }
  return found;
}

function radius(facts: WindowsFacts): PreflightFinding[] {
  const { clients, remoteServerGroups } = facts.radius;
  if (clients.length === 0 && remoteServerGroups.length === 0) return [];
  const named = [...clients.map((c) => `client ${c}`), ...remoteServerGroups.map((g) => `remote server group ${g}`)];
  return [{
    code: "NPS_RADIUS",
    severity: "blocking",
    where: `System32\\ias\\ias.xml (${named.join(", ")})`,
    message: "NPS has RADIUS clients or remote RADIUS server groups: Sysprep does not carry them over",
    fix: "Export the NPS configuration (netsh nps export), remove the clients and groups, and import it on each clone",
  }];
}

function profiles(facts: WindowsFacts): PreflightFinding[] {
  if (facts.localProfiles.length <= 1) return [];
  return [{
    code: "MULTIPLE_PROFILES",
    severity: "warning",
    where: `ProfileList (${facts.localProfiles.map((p) => p.path).join(", ")})`,
    message: `${facts.localProfiles.length} local user profiles: AWS advises one before Sysprep (CopyProfile copies only the administrator's)`,
    fix: "Delete the profiles you do not need (System Properties > User Profiles) before generalizing",
  }];
}
