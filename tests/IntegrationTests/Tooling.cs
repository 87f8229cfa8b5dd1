using System.Diagnostics;

namespace Occystrap.IntegrationTests;

internal sealed record Result(int Code, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {Code}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Runs the published occystrap and the real tools it is checked against.</summary>
internal static class Tooling
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Occystrap => Environment.GetEnvironmentVariable("OCCYSTRAP_EXE") is { Length: > 0 } exe
        ? exe
        : Path.Combine(RepoRoot, "artifacts", "occystrap", "occystrap");

    public static string SampleImage => Path.Combine(RepoRoot, "artifacts", "sample-image.tar");

    public static string SamplePlugins => Path.Combine(RepoRoot, "artifacts", "sample-plugins");

    /// <summary>Plugins built only for the tests (./build.sh puts them here).</summary>
    public static string TestPlugins => Path.Combine(RepoRoot, "artifacts", "test-plugins");

    public static Result Run(string file, IEnumerable<string> args, IDictionary<string, string?>? env = null, TimeSpan? timeout = null)
    {
        if (file == Occystrap && !File.Exists(Occystrap))
            throw new Xunit.Sdk.XunitException($"{Occystrap} does not exist: run ./build.sh first");
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["TERM"] = "dumb";
        psi.Environment.Remove("OCCYSTRAP_PLUGIN_PATH");
        if (env is not null)
            foreach (var (k, v) in env)
            {
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;
            }
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    public static Result Occy(params string[] args) => Run(Occystrap, args);

    public static Result OccyWith(IDictionary<string, string?> env, params string[] args) => Run(Occystrap, args, env);

    /// <summary>Runs a command and fails the test unless it exits 0.</summary>
    public static string Must(string file, params string[] args)
    {
        var r = Run(file, args);
        if (r.Code != 0) throw new Xunit.Sdk.XunitException($"{file} {string.Join(' ', args)} failed: {r}");
        return r.Stdout;
    }

    /// <summary>
    /// Runs a copy of the tool (under <paramref name="dir"/>, so that any user may run it) as nobody,
    /// with <paramref name="work"/> made nobody's and everything under <paramref name="dir"/> readable.
    /// </summary>
    public static Result Unprivileged(TempDir dir, string work, params string[] args)
    {
        string copy = dir["tool"];
        if (!Directory.Exists(copy)) Must("cp", "-r", Path.GetDirectoryName(Occystrap)!, copy);
        Must("chmod", "-R", "a+rX", dir.Path);
        Must("chown", "nobody", work);
        string tmp = dir["user-tmp"];
        Directory.CreateDirectory(tmp);
        Must("chmod", "1777", tmp);
        return Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", Path.Combine(copy, Path.GetFileName(Occystrap)), .. args],
            new Dictionary<string, string?> { ["HOME"] = tmp, ["DOTNET_CLI_HOME"] = tmp, ["TMPDIR"] = tmp });
    }

    /// <summary>The socket of a daemon that ./test.sh starts; a test that needs one fails without it.</summary>
    public static string Daemon(string variable)
    {
        string? value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(value))
            throw new Xunit.Sdk.XunitException($"{variable} is not set: run the tests with ./test.sh, which starts the daemons");
        return value;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Occystrap.sln"))) return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (Occystrap.sln)");
    }
}

/// <summary>A temporary folder removed after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "occy-it-" + Guid.NewGuid().ToString("N")[..12]);

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public IEnumerable<string> Files => Directory.GetFileSystemEntries(Path).Select(p => System.IO.Path.GetFileName(p)!).Order(StringComparer.Ordinal);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
