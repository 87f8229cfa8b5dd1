using System.Globalization;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;

namespace Occystrap.Formats.Bundles;

/// <summary>
/// The <c>config.json</c> of an OCI runtime bundle for an image: what <c>runc spec</c> (or
/// <c>runc spec --rootless</c>) writes, with the process taken from the image config: args
/// (Entrypoint then Cmd), env (plus PATH when the image sets none), cwd and user, the user resolved
/// through the image's own <c>/etc/passwd</c> and <c>/etc/group</c>.
/// </summary>
public static class RuntimeSpec
{
    public const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private static readonly string[] Capabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

    /// <param name="rootfs">The extracted root filesystem, where a user name is looked up.</param>
    /// <param name="rootless">A rootless bundle: a user namespace mapping root to <paramref name="hostUid"/>:<paramref name="hostGid"/>,
    /// in which the process runs as root (the only id mapped).</param>
    public static JsonObject Build(ReadOnlyMemory<byte> imageConfig, string rootfs, bool rootless, long hostUid, long hostGid) =>
        Build(imageConfig, path => RootfsFiles.Lines(rootfs, path), rootless, hostUid, hostGid);

    /// <param name="readImageFile">The lines of a file of the image by its path in the image (none when it has no such file).</param>
    public static JsonObject Build(ReadOnlyMemory<byte> imageConfig, Func<string, IReadOnlyList<string>> readImageFile, bool rootless, long hostUid, long hostGid)
    {
        var config = ImageConfig.Parse(imageConfig).Config;
        var args = new JsonArray();
        foreach (string a in (config.Entrypoint ?? []).Concat(config.Cmd ?? [])) args.Add(a);
        if (args.Count == 0) throw new OccystrapException("the image has no Entrypoint and no Cmd: a runtime bundle needs a command to run");
        // A rootless bundle maps one id, root, to the user who runs it: the image's user cannot be mapped.
        var (uid, gid, additional, home) = ResolveUser(rootless ? null : config.User, readImageFile);
        var env = Environment(config.Env ?? [], home);
        var user = new JsonObject { ["uid"] = uid, ["gid"] = gid };
        if (additional.Count > 0) user["additionalGids"] = new JsonArray(additional.Select(g => (JsonNode)g).ToArray());

        JsonArray Caps() => new(Capabilities.Select(c => (JsonNode)c).ToArray());
        var process = new JsonObject
        {
            ["terminal"] = false,
            ["user"] = user,
            ["args"] = args,
            ["env"] = env,
            ["cwd"] = string.IsNullOrEmpty(config.WorkingDir) ? "/" : config.WorkingDir,
            ["capabilities"] = new JsonObject { ["bounding"] = Caps(), ["effective"] = Caps(), ["permitted"] = Caps(), ["ambient"] = Caps() },
            ["rlimits"] = new JsonArray(new JsonObject { ["type"] = "RLIMIT_NOFILE", ["hard"] = 1024, ["soft"] = 1024 }),
            ["noNewPrivileges"] = true,
        };

        var mounts = new JsonArray
        {
            Mount("/proc", "proc", "proc"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
            rootless
                ? Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")
                : Mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
            Mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
            Mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
            rootless
                ? Mount("/sys", "none", "/sys", "rbind", "nosuid", "noexec", "nodev", "ro")
                : Mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
            Mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
        };

        var namespaces = new JsonArray();
        foreach (string ns in rootless ? ["pid", "ipc", "uts", "mount", "user"] : new[] { "pid", "network", "ipc", "uts", "mount" })
            namespaces.Add(new JsonObject { ["type"] = ns });
        var linux = new JsonObject();
        if (rootless)
        {
            linux["uidMappings"] = new JsonArray(new JsonObject { ["containerID"] = 0, ["hostID"] = hostUid, ["size"] = 1 });
            linux["gidMappings"] = new JsonArray(new JsonObject { ["containerID"] = 0, ["hostID"] = hostGid, ["size"] = 1 });
        }
        else linux["resources"] = new JsonObject { ["devices"] = new JsonArray(new JsonObject { ["allow"] = false, ["access"] = "rwm" }) };
        linux["namespaces"] = namespaces;
        linux["maskedPaths"] = Strings("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi");
        linux["readonlyPaths"] = Strings("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");

        return new JsonObject
        {
            ["ociVersion"] = "1.0.2-dev",
            ["process"] = process,
            ["root"] = new JsonObject { ["path"] = "rootfs", ["readonly"] = true },
            ["hostname"] = "occystrap",
            ["mounts"] = mounts,
            ["linux"] = linux,
        };
    }

    /// <summary>
    /// As runc's defaults (PATH, TERM) overridden and extended by the image's Env, then HOME from the
    /// user's passwd entry unless the image sets it: what umoci and Docker give a container.
    /// </summary>
    private static JsonArray Environment(IReadOnlyList<string> imageEnv, string? home)
    {
        var env = new List<string> { DefaultPath, "TERM=xterm" };
        static string Key(string e) => e.Split('=', 2)[0];
        foreach (string e in imageEnv)
        {
            int at = env.FindIndex(x => Key(x) == Key(e));
            if (at >= 0) env[at] = e;
            else env.Add(e);
        }
        if (home is not null && !env.Any(e => Key(e) == "HOME")) env.Add("HOME=" + home);
        return Strings([.. env]);
    }

    private static JsonArray Strings(params string[] values) => new(values.Select(v => (JsonNode)v).ToArray());

    private static JsonObject Mount(string destination, string type, string source, params string[] options)
    {
        var m = new JsonObject { ["destination"] = destination, ["type"] = type, ["source"] = source };
        if (options.Length > 0) m["options"] = Strings(options);
        return m;
    }

    /// <summary>
    /// USER as Docker reads it: <c>name</c>, <c>uid</c>, <c>name:group</c>, <c>uid:gid</c> and mixes.
    /// A name is looked up in the image's <c>/etc/passwd</c> (its primary gid comes with it) and a
    /// group name in <c>/etc/group</c>; a user without a group also gets the groups that list it.
    /// </summary>
    public static (long Uid, long Gid, IReadOnlyList<long> AdditionalGids, string? Home) ResolveUser(string? user, Func<string, IReadOnlyList<string>> readImageFile)
    {
        var passwd = Entries(readImageFile, "/etc/passwd", 7);
        if (string.IsNullOrEmpty(user)) return (0, 0, [], passwd.FirstOrDefault(p => p[2] == "0")?[5] ?? "/");
        string[] split = user.Split(':', 2);
        string userPart = split[0], groupPart = split.Length > 1 ? split[1] : "";
        var groups = Entries(readImageFile, "/etc/group", 4);

        string[]? entry = IsId(userPart, out long uid)
            ? passwd.FirstOrDefault(p => p[2] == userPart)
            : passwd.FirstOrDefault(p => p[0] == userPart) ?? throw new OccystrapException($"the image's user '{userPart}' is not in its /etc/passwd");
        if (entry is not null) uid = ParseId(entry[2], "/etc/passwd");
        long gid = entry is not null ? ParseId(entry[3], "/etc/passwd") : 0;
        string home = entry is not null && entry[5].Length > 0 ? entry[5] : "/";
        if (groupPart.Length > 0)
        {
            if (!IsId(groupPart, out gid))
            {
                var group = groups.FirstOrDefault(g => g[0] == groupPart) ?? throw new OccystrapException($"the image's group '{groupPart}' is not in its /etc/group");
                gid = ParseId(group[2], "/etc/group");
            }
            return (uid, gid, [], home);
        }
        string? name = entry?[0];
        var additional = name is null ? [] : groups
            .Where(g => g[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Contains(name))
            .Select(g => ParseId(g[2], "/etc/group")).Where(g => g != gid).Distinct().ToList();
        return (uid, gid, additional, home);
    }

    private static bool IsId(string s, out long id) =>
        long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id <= uint.MaxValue;

    private static long ParseId(string s, string file) =>
        IsId(s, out long id) ? id : throw new OccystrapException($"the image's {file} has an id that is not a number: '{s}'");

    private static List<string[]> Entries(Func<string, IReadOnlyList<string>> read, string file, int fields) => read(file)
        .Where(l => l.Length > 0 && !l.StartsWith('#'))
        .Select(l => l.Split(':'))
        .Where(p => p.Length >= fields)
        .ToList();
}
