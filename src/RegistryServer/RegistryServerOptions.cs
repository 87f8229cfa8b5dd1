using System.Net;
using Occystrap.Abstractions;

namespace Occystrap.RegistryServer;

/// <summary>How an <see cref="EmbeddedRegistry"/> listens, stores and bounds what it receives.</summary>
public sealed record RegistryServerOptions
{
    /// <summary>The folder that holds the blobs (<c>blobs/ALG/HEX</c>), the manifests and the upload sessions' files.</summary>
    public required string StorageRoot { get; init; }

    /// <summary>The address to listen on: loopback unless a caller knows better.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>The port; 0 takes a free one (see <see cref="EmbeddedRegistry.Port"/>).</summary>
    public int Port { get; init; }

    /// <summary>Serve HTTPS with a self-signed certificate made in-process for the address, 127.0.0.1 and localhost.</summary>
    public bool Https { get; init; }

    /// <summary>When set, every request must carry this Basic credential; others get 401.</summary>
    public NetworkCredential? Basic { get; init; }

    /// <summary>An upload session with no request for this long is purged, its file removed.</summary>
    public TimeSpan UploadIdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Upload sessions open at once; a POST beyond them gets 429.</summary>
    public int MaxUploadSessions { get; init; } = 256;

    /// <summary>
    /// Blobs the server answers a HEAD for although it does not store them: given a digest, the size to
    /// answer with, or null for a blob it does not know. A client that checks before it uploads (as the
    /// daemons do) then skips those blobs. A GET of them is still 404.
    /// </summary>
    public Func<Digest, long?>? BlobsHeldElsewhere { get; init; }

    /// <summary>Called with each request's method, path and query, and the status answered (for a debug log).</summary>
    public Action<string>? RequestLog { get; init; }

    /// <summary>The largest manifest accepted, in bytes.</summary>
    public int MaxManifestBytes { get; init; } = 4 * 1024 * 1024;
}
