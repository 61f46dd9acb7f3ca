// What imagesmith knows of a Windows disk, read offline (libguestfs
// inspection, hivex on the SYSTEM and SOFTWARE hives). The rules that judge
// these facts are in windows-preflight.ts; the adapter only reads them.

/** What libguestfs inspection reports of a Windows root, shown by `image show`. */
export interface WindowsInspection {
  /** inspect-get-product-name, e.g. "Windows Server 2022 Standard". */
  productName: string;
  majorVersion: number;
  minorVersion: number;
  /** inspect-get-product-variant: "Server" or "Client" (the SOFTWARE hive's InstallationType). */
  installationType: string;
  /** inspect-get-arch: x86_64, i386, aarch64. */
  arch: string;
  /** Services\Tcpip\Parameters\Hostname in the current control set. */
  hostname: string | null;
  /** inspect-get-windows-systemroot, e.g. /Windows. */
  systemRoot: string;
}

/** A registry value read by hivex, as text (REG_SZ) or number (REG_DWORD). */
export type RegistryValue = string | number | null;

/** The raw facts the Sysprep preflight judges; every list is empty when nothing was found. */
export interface WindowsFacts {
  /** Every partition from list-partitions, with its vfs-type ("" when blkid knows none). */
  partitions: Array<{ device: string; vfsType: string }>;
  /** Services\cdrom\Start in the current control set (4: disabled). */
  cdromStart: RegistryValue;
  /**
   * The removable-storage deny policies that stop the CD-ROM being read:
   * Policies\Microsoft\Windows\RemovableStorageDevices Deny_All, and the CD and
   * DVD class {53f56308-b6bf-11d0-94f2-00a0c91efb8b} Deny_Read / Deny_Execute.
   */
  removableStorageDeny: Array<{ key: string; value: string; data: RegistryValue }>;
  /** Answer files left in Panther (under the system root), as guest paths. */
  pantherAnswerFiles: string[];
  /** Appx\AppxAllUserStore\<SID>\<package> keys: Store apps installed for a user. */
  appxPerUser: Array<{ sid: string; packageFullName: string }>;
  /** Appx\AppxAllUserStore\Applications\<package> keys: provisioned for all users. */
  appxProvisioned: string[];
  /** ServerManager\ServicingStorage\ServerComponentCache\<Feature> InstallState (1: installed). */
  serverFeatures: Array<{ name: string; installState: RegistryValue }>;
  /** Control\ProductOptions ProductType: WinNT, ServerNT, or LanmanNT (a domain controller). */
  productType: RegistryValue;
  /** NPS (System32\ias\ias.xml): RADIUS clients and remote RADIUS server groups configured. */
  radius: { clients: string[]; remoteServerGroups: string[] };
  /** ProfileList entries of local users (S-1-5-21-…), with their profile paths. */
  localProfiles: Array<{ sid: string; path: string }>;
}

export type FindingSeverity = "blocking" | "warning";

/** One cause the seeds document for a failing Sysprep, found on the disk. */
export interface PreflightFinding {
  /** Stable: BITLOCKER, CDROM_DISABLED, PANTHER_UNATTEND, APPX_NOT_PROVISIONED, SYSPREP_LIMIT, UNSUPPORTED_ROLE, NPS_RADIUS, MULTIPLE_PROFILES, NO_WINDOWS. */
  code: string;
  severity: FindingSeverity;
  /** Where on the disk, e.g. a partition, a registry path or a file. */
  where: string;
  message: string;
  fix: string;
}
