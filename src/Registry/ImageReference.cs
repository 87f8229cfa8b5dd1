using Occystrap.Abstractions;

namespace Occystrap.Registry;

/// <summary>
/// <c>HOST[:PORT]/NAME[:TAG][@sha256:…]</c> as given after <c>registry://</c>. <c>docker.io</c> means
/// <c>registry-1.docker.io</c> and a single-element name there gets <c>library/</c>. Credentials may
/// stand before the host: <c>user:pass@host/name:tag</c>.
/// </summary>
public sealed record ImageReference(string Registry, string Repository, string? Tag, Digest? Digest, string? Username = null, string? Password = null)
{
    /// <summary>The tag or digest to ask the registry for.</summary>
    public string Reference => Digest?.ToString() ?? Tag ?? "latest";

    /// <summary>The name as users write it (no credentials).</summary>
    public override string ToString() =>
        $"{Registry}/{Repository}" + (Tag is not null ? ":" + Tag : "") + (Digest is { } d ? "@" + d : "");

    public ImageName ToImageName() => new($"{DisplayRegistry}/{Repository}", Tag ?? (Digest is null ? "latest" : null), Digest?.ToString());

    private string DisplayRegistry => Registry == "registry-1.docker.io" ? "docker.io" : Registry;

    /// <param name="text">As written, not yet percent-decoded: user, password and path are decoded here, after splitting.</param>
    public static ImageReference Parse(string text)
    {
        string rest = text;
        string shown = SecretText.Redact(text);
        string? user = null, password = null;
        int slash = rest.IndexOf('/');
        int at = rest.LastIndexOf('@', slash < 0 ? rest.Length - 1 : slash);
        if (at > 0 && (slash < 0 || at < slash))
        {
            string userinfo = rest[..at];
            rest = rest[(at + 1)..];
            int colon = userinfo.IndexOf(':');
            user = Uri.UnescapeDataString(colon < 0 ? userinfo : userinfo[..colon]);
            password = colon < 0 ? null : Uri.UnescapeDataString(userinfo[(colon + 1)..]);
        }
        slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1)
            throw new UsageException($"'{shown}' is not a registry image reference; write registry://HOST[:PORT]/NAME:TAG");
        string host = rest[..slash].ToLowerInvariant();
        string path = Uri.UnescapeDataString(rest[(slash + 1)..]);

        Digest? digest = null;
        int digestAt = path.IndexOf('@');
        if (digestAt >= 0)
        {
            if (!Abstractions.Digest.TryParse(path[(digestAt + 1)..], out var d))
                throw new UsageException($"'{path[(digestAt + 1)..]}' in '{shown}' is not a digest (sha256:<64 hex digits>)");
            digest = d;
            path = path[..digestAt];
        }
        string? tag = null;
        int tagAt = path.LastIndexOf(':');
        if (tagAt > path.LastIndexOf('/'))
        {
            tag = path[(tagAt + 1)..];
            path = path[..tagAt];
        }
        if (path.Length == 0 || path.Any(c => char.IsAsciiLetterUpper(c) || char.IsWhiteSpace(c)))
            throw new UsageException($"'{path}' in '{shown}' is not a valid repository name (lower case, no spaces)");
        if (host is "docker.io" or "index.docker.io")
        {
            host = "registry-1.docker.io";
            if (!path.Contains('/')) path = "library/" + path;
        }
        if (tag is null && digest is null) tag = "latest";
        return new ImageReference(host, path, tag, digest, user, password);
    }
}
