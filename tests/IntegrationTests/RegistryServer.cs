using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Occystrap.IntegrationTests;

/// <summary>
/// A real Debian <c>docker-registry</c> on a free loopback port, configured by the test: plain, htpasswd
/// Basic auth, TLS with its own CA, or token auth against a <see cref="TokenServer"/>. Stopped (by its
/// PID) and its storage removed on dispose.
/// </summary>
public sealed class RegistryServer : IDisposable
{
    public const string User = "testuser";
    public const string Password = "s3cret-Pa55";
    private readonly Process _process;
    private readonly TempDir _dir;

    private RegistryServer(TempDir dir, Process process, int port, string? caFile, bool tls)
    {
        _dir = dir;
        _process = process;
        Port = port;
        CaFile = caFile;
        Tls = tls;
    }

    public int Port { get; }
    public string Address => $"127.0.0.1:{Port}";
    public bool Tls { get; }

    /// <summary>The CA that signed the server certificate (TLS only).</summary>
    public string? CaFile { get; }

    /// <summary>A folder holding only ca.crt, as skopeo's --cert-dir wants.</summary>
    public string? CertDir => CaFile is null ? null : Path.GetDirectoryName(CaFile);

    public string Storage => _dir["data"];

    public static RegistryServer Start(string auth = "none", bool tls = false, TokenServer? token = null)
    {
        var dir = new TempDir();
        int port = FreePort();
        var config = new List<string>
        {
            "version: 0.1",
            "log: {level: warn, accesslog: {disabled: true}}",
            $"storage: {{filesystem: {{rootdirectory: {dir["data"]}}}, delete: {{enabled: true}}}}",
        };
        string http = $"http: {{addr: 127.0.0.1:{port}, secret: occystrap-test";
        string? ca = null;
        if (tls)
        {
            Directory.CreateDirectory(dir["ca"]);
            ca = dir["ca/ca.crt"];
            WriteServerCertificate(ca, dir["server.crt"], dir["server.key"]);
            http += $", tls: {{certificate: {dir["server.crt"]}, key: {dir["server.key"]}}}";
        }
        config.Add(http + "}");
        if (auth == "htpasswd")
        {
            File.WriteAllText(dir["htpasswd"], Tooling.Must("htpasswd", "-Bbn", User, Password));
            config.Add($"auth: {{htpasswd: {{realm: occystrap-test, path: {dir["htpasswd"]}}}}}");
        }
        else if (auth == "token")
        {
            File.WriteAllText(dir["token.crt"], token!.CertificatePem);
            config.Add($"auth: {{token: {{realm: {token.Realm}, service: {TokenServer.Service}, issuer: {TokenServer.Issuer}, rootcertbundle: {dir["token.crt"]}}}}}");
        }
        File.WriteAllLines(dir["config.yml"], config);

        var psi = new ProcessStartInfo("docker-registry", ["serve", dir["config.yml"]])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            dir.Dispose();
            throw new Xunit.Sdk.XunitException($"docker-registry is not installed ({e.Message}): run the tests with ./test.sh");
        }
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new RegistryServer(dir, process, port, ca, tls);
        server.WaitReady();
        return server;
    }

    private void WaitReady()
    {
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new Xunit.Sdk.XunitException($"docker-registry exited with {_process.ExitCode}");
            try
            {
                var status = http.GetAsync($"{(Tls ? "https" : "http")}://{Address}/v2/").Result.StatusCode;
                if (status is HttpStatusCode.OK or HttpStatusCode.Unauthorized) return;
            }
            catch (AggregateException)
            {
            }
            Thread.Sleep(50);
        }
        Dispose();
        throw new Xunit.Sdk.XunitException("docker-registry did not become ready");
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static void WriteServerCertificate(string caFile, string certFile, string keyFile)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=occystrap test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var caCert = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));

        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var cert = request.Create(caCert, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddMonths(6), RandomNumberGenerator.GetBytes(8));
        File.WriteAllText(caFile, caCert.ExportCertificatePem());
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportRSAPrivateKeyPem());
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        _dir.Dispose();
    }
}
